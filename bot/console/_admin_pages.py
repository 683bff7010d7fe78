"""Administration features (administrators): organisations, people, and the assistant's
conversations to take over. The rules are bot.accounts.Admin's."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .._exceptions import Invalid
from ..accounts import Admin, OrgKind, Role, generate_password
from ..handoff import HANDOFFS
from ._features import ConsoleFeature, FeatureRoutes
from ._labels import label
from ._web import (
    done,
    number,
    path_id,
    payload,
    render,
    state,
    ui_language,
    viewer,
    wants_json,
)

__all__ = ["ADMIN_FEATURES"]

ADMINS = frozenset({Role.ADMIN})
DEFAULT_SLA_MINUTES = 30


def _admin(request: web.Request) -> Admin:
    return state(request).admin


def _id(request: web.Request) -> int:
    return path_id(request, "record")


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(";", ",").split(",") if v.strip()]


def _hours(value: str | None) -> dict[str, Any]:
    if not value or not value.strip():
        return {}
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise Invalid(
            f'office hours must be JSON like {{"mon-fri": ["08:00-17:00"]}}: {exc}'
        ) from exc
    if not isinstance(data, dict):
        raise Invalid('office hours look like {"mon-fri": ["08:00-17:00"]}')
    return data


def _org_fields(data: dict[str, str]) -> dict[str, Any]:
    return {
        "languages": _csv(data.get("languages")),
        "topics": _csv(data.get("topics")),
        "areas": _csv(data.get("areas")),
        "office_hours": _hours(data.get("office_hours")),
        "sla_minutes": number(data.get("sla_minutes"), "the service level") or DEFAULT_SLA_MINUTES,
    }


_KINDS = [k.value for k in OrgKind if k != OrgKind.NATIONAL_POOL]


async def orgs_list(request: web.Request) -> web.StreamResponse:
    """Organisations."""
    orgs = await _admin(request).organisations()
    return render(
        request, "console/orgs.html", title="", page="admin", orgs=orgs, org=None, kinds=_KINDS
    )


async def org_add(request: web.Request) -> web.StreamResponse:
    """Add an organisation (every field checked by Admin)."""
    data = await payload(request)
    org = await _admin(request).add_organisation(
        data.get("slug", ""),
        data.get("name", ""),
        kind=data.get("kind") or OrgKind.CSO,
        **_org_fields(data),
    )
    location = state(request).registry.url("organisations:show", id=org.id)
    return done(request, location, {"organisation": org.as_json()})


async def org_show(request: web.Request) -> web.StreamResponse:
    """One organisation's form."""
    org = await _admin(request).organisation(_id(request))
    return render(request, "console/org.html", title=org.name, page="admin", org=org, kinds=_KINDS)


async def org_update(request: web.Request) -> web.StreamResponse:
    """Change an organisation."""
    admin = _admin(request)
    data = await payload(request)
    current = await admin.organisation(_id(request))
    org = await admin.update_organisation(
        current.id,
        name=data.get("name", current.name),
        active=current.active if current.national_pool else data.get("active") == "1",
        kind=data.get("kind") or None,
        **_org_fields(data),
    )
    location = state(request).registry.url("organisations:show", id=org.id)
    return done(request, location, {"organisation": org.as_json()})


async def agents_list(request: web.Request, notice: str = "") -> web.StreamResponse:
    """People with their role, organisation and activity."""
    admin = _admin(request)
    return render(
        request,
        "console/agents.html",
        title="",
        page="admin",
        agents=await admin.agents(),
        orgs=[o for o in await admin.organisations() if o.active],
        roles=list(Role),
        notice=notice,
    )


async def agent_add(request: web.Request) -> web.StreamResponse:
    """Add a person with a generated password, shown once on the next page."""
    data = await payload(request)
    password = generate_password()
    agent = await _admin(request).add_agent(
        data.get("username", ""),
        data.get("display_name", ""),
        number(data.get("organisation"), "organisation") or 0,
        data.get("role", Role.AGENT),
        password,
    )
    if wants_json(request):
        return web.json_response({"agent": agent.as_json(), "password": password})
    notice = label("password_once", ui_language(request), user=agent.username, password=password)
    return await agents_list(request, notice)


async def agent_update(request: web.Request) -> web.StreamResponse:
    """Change a person's name, role, organisation or activity."""
    data = await payload(request)
    agent = await _admin(request).update_agent(
        _id(request),
        display_name=data.get("display_name"),
        role=data.get("role"),
        organisation=number(data.get("organisation"), "organisation"),
        active=data.get("active") == "1",
    )
    return done(request, state(request).registry.url("people:list"), {"agent": agent.as_json()})


async def agent_password(request: web.Request) -> web.StreamResponse:
    """Reset a password to a generated one, shown once."""
    password = generate_password()
    agent = await _admin(request).set_password(_id(request), password)
    if wants_json(request):
        return web.json_response({"agent": agent.as_json(), "password": password})
    notice = label("password_once", ui_language(request), user=agent.username, password=password)
    return await agents_list(request, notice)


async def chats_list(request: web.Request) -> web.StreamResponse:
    """Conversations with the assistant, to take one over."""
    chats = await request.config_dict[HANDOFFS].recent_chats(viewer(request))
    return render(request, "console/chats.html", title="", page="admin", chats=chats)


def _organisations(routes: FeatureRoutes) -> None:
    routes.get("/admin/orgs", orgs_list, name="list")
    routes.post("/admin/orgs", org_add, name="list")
    routes.get("/admin/orgs/{id}", org_show, name="show")
    routes.post("/admin/orgs/{id}", org_update, name="show")


def _people(routes: FeatureRoutes) -> None:
    routes.get("/admin/agents", agents_list, name="list")
    routes.post("/admin/agents", agent_add, name="list")
    routes.post("/admin/agents/{id}", agent_update, name="update")
    routes.post("/admin/agents/{id}/password", agent_password, name="password")


def _chats(routes: FeatureRoutes) -> None:
    routes.get("/admin/chats", chats_list, name="list")


ADMIN_FEATURES = (
    ConsoleFeature(
        name="organisations",
        label_km="អង្គការ",
        label_en="Organisations",
        roles=ADMINS,
        setup=_organisations,
        home="list",
    ),
    ConsoleFeature(
        name="people",
        label_km="បុគ្គលិក",
        label_en="Agents",
        roles=ADMINS,
        setup=_people,
        home="list",
    ),
    ConsoleFeature(
        name="chats",
        label_km="ការសន្ទនាជាមួយជំនួយការ",
        label_en="Assistant chats",
        roles=ADMINS,
        setup=_chats,
        home="list",
    ),
)
