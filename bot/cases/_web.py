"""Cases in the console (/console/cases, JSON under /console/api/cases): the queue, a case
with its history and internal notes, assign, start, refer to a ministry (with a reason),
resolve, close with a reason, message the citizen with templates, file a case on a
citizen's behalf, and turn a handoff chat into a case. Roles: CSO agents, supervisors,
administrators, ministry focal points (ministry_editor) and the secretariat."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .._exceptions import Invalid, NotFound
from ..accounts import Role
from ..console import (
    ConsoleFeature,
    FeatureRoutes,
    done,
    path_id,
    payload,
    render,
    state,
    ui_language,
    viewer,
    wants_json,
)
from ..console._web import is_api
from ._commands import NewCase
from ._core import CaseView
from ._keys import CASES
from ._labels import translator
from ._service import CaseService
from ._tables import CaseKind, CaseTopic

__all__ = ["CASES_FEATURE"]

ACTIONS = ("assign", "start", "refer", "resolve", "reject", "note", "reply")


def _service(request: web.Request) -> CaseService:
    return request.config_dict[CASES]


def _url(request: web.Request, name: str, **parts: str | int) -> str:
    return state(request).registry.url(f"cases:{name}", **parts)


def _json(view: CaseView) -> dict[str, Any]:
    """A case for a script: coded columns, no citizen's words or identity."""
    return {
        "id": view.id,
        "code": view.code,
        "kind": view.kind,
        "topic": view.topic,
        "programme": view.programme,
        "status": view.status,
        "urgent": view.urgent,
        "organisation": view.organisation_name,
        "referred_to": view.referred_org_name,
        "assignee": view.assignee_name,
        "escalation_level": view.escalation_level,
        "overdue": view.overdue,
    }


def _page(request: web.Request, template: str, **values: Any) -> web.Response:
    lang = ui_language(request)
    return render(
        request,
        f"cases/{template}",
        page=f"cases-{template.removesuffix('.html')}",
        tr=translator(lang),
        **values,
    )


async def queue(request: web.Request) -> web.StreamResponse:
    """Open cases the viewer may see (``?all=1``: closed ones too)."""
    show_all = request.query.get("all") == "1"
    cases = await _service(request).queue(viewer(request), open_only=not show_all)
    if wants_json(request) or is_api(request):
        return web.json_response({"cases": [_json(c) for c in cases]})
    return _page(request, "queue.html", cases=cases, show_all=show_all)


async def case_api(request: web.Request) -> web.StreamResponse:
    view, history = await _service(request).detail(viewer(request), path_id(request, "case"))
    return web.json_response({**_json(view), "history": [[e.kind, e.to_status] for e in history]})


async def detail(request: web.Request) -> web.StreamResponse:
    """One case, its history and notes, and what the viewer may do."""
    service = _service(request)
    view, history = await service.detail(viewer(request), path_id(request, "case"))
    lang = ui_language(request)
    return _page(
        request,
        "case.html",
        case=view,
        history=history,
        ministries=await service.ministries(),
        templates=[(k, v.get(lang) or v["en"]) for k, v in service.config.templates.items()],
        place=service.places.describe(view.place_code, lang),
        programme=next(
            (p.title(lang) for p in service.config.programmes if p.id == view.programme),
            view.programme,
        ),
    )


async def act(request: web.Request) -> web.StreamResponse:
    """One action on a case (a form or JSON); back to the case."""
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise NotFound("no such action")
    case_id = path_id(request, "case")
    data = await payload(request)
    who = viewer(request)
    service = _service(request)
    text = data.get("text", "")
    if not text and data.get("template"):
        chosen = service.config.templates.get(data["template"])
        if chosen is None:
            raise Invalid("no such template")
        text = chosen.get(data.get("language") or "km") or chosen["km"]
    if action == "assign":
        agent = data.get("agent_id")
        await service.assign(who, case_id, int(agent) if agent and agent.isdigit() else None)
    elif action == "start":
        await service.start(who, case_id)
    elif action == "refer":
        org = data.get("organisation_id", "")
        if not org.isdigit():
            raise Invalid("choose a ministry")
        await service.refer(who, case_id, int(org), text)
    elif action == "resolve":
        await service.resolve(who, case_id, text)
    elif action == "reject":
        await service.reject(who, case_id, text)
    elif action == "note":
        await service.note(who, case_id, text)
    else:
        await service.reply(who, case_id, text)
    if is_api(request):
        return web.json_response({"case": case_id, "done": action})
    return done(request, _url(request, "case", id=case_id), {"case": case_id, "done": action})


async def new_form(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    lang = ui_language(request)
    return _page(
        request,
        "new.html",
        kinds=list(CaseKind),
        topics=list(CaseTopic),
        programmes=[(p.id, p.title(lang)) for p in service.config.programmes],
    )


async def file_case(request: web.Request) -> web.StreamResponse:
    """An agent files a case for a citizen (an outreach visit, a phone call)."""
    data = await payload(request)
    kind = data.get("kind", "")
    if kind not in set(CaseKind):
        raise Invalid("choose a kind")
    case = await _service(request).file(
        NewCase(
            kind=kind,
            channel="agent",
            language=data.get("language") or "km",
            topic=data.get("topic") or None,
            programme=data.get("programme") or None,
            description=data.get("description", ""),
            place_code=data.get("place_code") or None,
        ),
        viewer(request),
    )
    return done(request, _url(request, "case", id=case.id), {"case": case.id, "code": case.code})


async def from_handoff(request: web.Request) -> web.StreamResponse:
    """Turn a handoff chat into a case (same chat, place and language)."""
    data = await payload(request)
    kind = data.get("kind") or CaseKind.COMPLAINT
    case = await _service(request).from_handoff(
        viewer(request),
        path_id(request, "conversation"),
        kind=kind,
        description=data.get("description", ""),
        topic=data.get("topic") or None,
    )
    return done(request, _url(request, "case", id=case.id), {"case": case.id, "code": case.code})


def _routes(routes: FeatureRoutes) -> None:
    routes.get("", queue, name="queue")
    routes.get("/new", new_form, name="new")
    routes.post("/new", file_case, name="file")
    routes.post("/from-handoff/{id}", from_handoff, name="from_handoff")
    routes.get("/{id}", detail, name="case")
    routes.post("/{id}/{action}", act, name="act")
    routes.api_get("", queue, name="api_queue")
    routes.api_get("/{id}", case_api, name="api_case")
    routes.api_post("/{id}/{action}", act, name="api_act")
    routes.api_post("/new", file_case, name="api_file")
    routes.api_post("/from-handoff/{id}", from_handoff, name="api_from_handoff")


CASES_FEATURE = ConsoleFeature(
    name="cases",
    label_km="ករណី",
    label_en="Cases",
    roles=frozenset(
        {Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.MINISTRY_EDITOR, Role.SECRETARIAT_REVIEWER}
    ),
    setup=_routes,
    prefix="/cases",
    home="queue",
    templates="bot.cases",
)
