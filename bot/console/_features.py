"""The console's registration API: a feature brings its routes, its menu entry (in Khmer
and English) and the roles that may use it; the console builds the menu from what is
registered and what the viewer's role allows, and refuses a feature's routes to other
roles (NotAllowed -> 403, in the shared middleware)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource

from ..accounts import Viewer

__all__ = [
    "API",
    "FEATURE",
    "ConsoleFeature",
    "FeatureRoutes",
    "MenuEntry",
    "Registry",
]

API = "/api"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Context = Callable[[web.Application], AsyncIterator[None]]


@dataclass(frozen=True)
class ConsoleFeature:
    """One console feature. ``setup`` registers its routes on a FeatureRoutes; a feature
    with a ``prefix`` lives in its own sub-applications (pages at /console{prefix}, JSON at
    /console/api{prefix}); ``context`` opens and closes its resources with the gateway
    (on the root app, so it sees the store and closes before it)."""

    name: str
    label_km: str
    label_en: str
    roles: frozenset[str]
    setup: Callable[[FeatureRoutes], None]
    prefix: str = ""
    home: str = ""  # the menu's link: a route name of this feature ("" = no menu entry)
    context: Context | None = None
    templates: str | None = None  # a package with a templates/ folder
    back: Callable[[web.Request], str] | None = None  # where a refused form leads back
    # routes that take a file (full route name -> bytes), beyond the gateway's body limit
    uploads: Mapping[str, int] = field(default_factory=dict)

    def label(self, language: str) -> str:
        """The menu label in the console's language."""
        return self.label_km if language == "km" else self.label_en


FEATURE = web.AppKey("console_feature", ConsoleFeature)


@dataclass(frozen=True)
class MenuEntry:
    """One link of the console's navigation."""

    name: str
    label: str
    url: str


class FeatureRoutes:
    """What a feature's ``setup`` adds its routes to; names are namespaced by the feature
    (``training:review``) and every route is remembered as the feature's."""

    def __init__(self, registry: Registry, feature: ConsoleFeature, console: web.Application):
        self._registry = registry
        self.feature = feature
        if feature.prefix:
            self.pages = web.Application()
            self.api = web.Application()
            self.pages[FEATURE] = feature
            self.api[FEATURE] = feature
        else:
            self.pages = self.api = console
        self._console = console

    def _add(
        self, app: web.Application, method: str, path: str, handler: Handler, name: str
    ) -> None:
        route = app.router.add_route(method, path, handler, name=f"{self.feature.name}:{name}")
        if route.resource is not None:
            self._registry.resources[route.resource] = self.feature

    def get(self, path: str, handler: Handler, *, name: str) -> None:
        """A page (under /console{prefix})."""
        self._add(self.pages, "GET", path, handler, name)

    def post(self, path: str, handler: Handler, *, name: str) -> None:
        """A form action (under /console{prefix})."""
        self._add(self.pages, "POST", path, handler, name)

    def api_get(self, path: str, handler: Handler, *, name: str) -> None:
        """A JSON read (under /console/api{prefix})."""
        full = path if self.feature.prefix else API + path
        self._add(self.api, "GET", full, handler, name)

    def api_post(self, path: str, handler: Handler, *, name: str) -> None:
        """A JSON or form action (under /console/api{prefix})."""
        full = path if self.feature.prefix else API + path
        self._add(self.api, "POST", full, handler, name)

    def mount(self) -> None:
        """Nest the feature's sub-applications in the console (before it is frozen)."""
        if not self.feature.prefix:
            return
        if self.pages.router.routes():
            self._console.add_subapp(self.feature.prefix, self.pages)
        if self.api.router.routes():
            self._console.add_subapp(API + self.feature.prefix, self.api)


@dataclass
class Registry:
    """The registered features, their routes (by resource) and named routes."""

    features: list[ConsoleFeature] = field(default_factory=list)
    resources: dict[AbstractResource, ConsoleFeature] = field(default_factory=dict)
    names: dict[str, AbstractResource] = field(default_factory=dict)

    def add(self, feature: ConsoleFeature, console: web.Application) -> None:
        """Register a feature: its routes (nested if prefixed) and its menu entry."""
        if any(f.name == feature.name for f in self.features):
            raise ValueError(f"a console feature {feature.name!r} is registered already")
        routes = FeatureRoutes(self, feature, console)
        feature.setup(routes)
        for app in {id(routes.pages): routes.pages, id(routes.api): routes.api}.values():
            for resource in app.router.resources():
                if resource.name:
                    self.names[resource.name] = resource
        routes.mount()
        self.features.append(feature)

    def feature_of(self, request: web.Request) -> ConsoleFeature | None:
        """The feature that owns the matched route (None: the console's own routes)."""
        route = request.match_info.route
        return self.resources.get(route.resource) if route.resource is not None else None

    def menu(self, viewer: Viewer | None, language: str) -> list[MenuEntry]:
        """The features this viewer may use, in registration order."""
        if viewer is None:
            return []
        return [
            MenuEntry(f.name, f.label(language), self.url(f"{f.name}:{f.home}"))
            for f in self.features
            if f.home and viewer.has_any(f.roles)
        ]

    def url(self, name: str, **parts: str | int) -> str:
        """The path of a named route (``feature:name``, or ``console:name``)."""
        resource = self.names.get(name)
        if resource is None:
            raise KeyError(f"no console route named {name!r}")
        return str(resource.url_for(**{k: str(v) for k, v in parts.items()}))

    def remember(self, apps: Iterable[web.Application]) -> None:
        """Name the console's own routes too (login, logout, language, assets)."""
        for app in apps:
            for resource in app.router.resources():
                if resource.name:
                    self.names.setdefault(resource.name, resource)
