"""The handoff features: the queue and conversations (CSO agents, supervisors and
administrators), and supervision (supervisors and administrators).

Page forms and scripts use the same action URLs (``/console/api/handoffs/{id}/claim``...):
a form gets a 303 back to the page, a JSON request gets JSON. Permissions are the service's
(bot.handoff); the console adds login, CSRF, the feature's roles and escaping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from khmer_nlu.graphemes import shorten

from .. import keys
from ..accounts import CSO_ROLES, Role, Viewer
from ..handoff import HANDOFFS, LIVE, RESYNC, HandoffView, HistoryItem, LiveEvent
from ..storage._db import HandoffStatus
from ._auth import AUTH, COOKIE
from ._canned import LIVE_CATALOGUE, CannedReply, seed_document
from ._features import ConsoleFeature, FeatureRoutes
from ._labels import word
from ._middleware import SECURITY_HEADERS
from ._web import done, number, path_id, payload, render, state, ui_language, viewer

__all__ = ["HANDOFF_FEATURES", "Summary", "event_words", "summarise"]

SSE_KEEPALIVE_S = 15.0
SSE_RETRY_MS = 3000
SSE_BATCH = 64
SHUTDOWN_EVENT = "console-shutdown"
SUMMARY_ASKED = 3
SUMMARY_TOLD = 2
SUMMARY_CHARS = 140
CANNED_CHARS = 48


@dataclass(frozen=True)
class Summary:
    """What the citizen asked and what they were told before the handoff."""

    note: str
    asked: list[str]
    told: list[str]


@dataclass(frozen=True)
class Line:
    """One history line as the page shows it: who, when, what (events in words)."""

    author: str
    who: str
    at: object
    text: str


@dataclass(frozen=True)
class CannedButton:
    """A canned reply in one language, filled in for this conversation."""

    lang: str
    text: str
    short: str


def summarise(view: HandoffView, history: list[HistoryItem]) -> Summary:
    """What the citizen asked and was told before the handoff (the assistant's own summary
    first), so the agent need not scroll."""
    before = [i for i in history if i.at <= view.created_at]
    asked = [i.text for i in before if i.author == "citizen"][-SUMMARY_ASKED:]
    told = [i.text for i in before if i.author == "assistant"][-SUMMARY_TOLD:]
    return Summary(view.summary, asked, told)


def _event_details(text: str) -> tuple[str, dict[str, str]]:
    """The service writes an event as ``kind (key=value, ...)``."""
    kind, _, rest = text.partition(" (")
    details: dict[str, str] = {}
    for part in rest.rstrip(")").split(", ") if rest else []:
        key, _, value = part.partition("=")
        details[key.strip()] = value.strip()
    return kind.strip(), details


def event_words(text: str, language: str) -> str:
    """An event line in words: what happened, and why when it says (never ids)."""
    kind, details = _event_details(text)
    words = [word("event", kind, language)]
    reason = details.get("reason")
    if kind == "opened" and reason and reason != "None":
        words.append(word("reason", reason, language))
    urgency = details.get("urgency")
    if urgency and urgency != "None":
        words.append(word("urgency", urgency, language))
    if kind == "rated" and details.get("score", "").isdigit():
        words.append(f"{details['score']}/5")
    return " · ".join(words)


def _lines(items: Sequence[HistoryItem], language: str) -> list[Line]:
    out = []
    for i in items:
        who = word("author", i.author, language)
        if i.agent_name:
            who = f"{who} · {i.agent_name}"
        text = event_words(i.text, language) if i.author == "event" else i.text
        out.append(Line(i.author, who, i.at, text))
    return out


def _handoff_id(request: web.Request) -> int:
    return path_id(request, "conversation")


def _short(summary: str) -> str:
    """The queue's one-line summary, cut between Khmer clusters (never after a coeng)."""
    return shorten(summary, SUMMARY_CHARS)


# ----- queue -------------------------------------------------------------------------------


async def queue(request: web.Request) -> web.StreamResponse:
    """The queue page."""
    views = await request.config_dict[HANDOFFS].queue(viewer(request))
    return render(request, "console/queue.html", title="", page="queue", views=views, short=_short)


async def queue_partial(request: web.Request) -> web.StreamResponse:
    """The queue list alone, for live refreshes."""
    views = await request.config_dict[HANDOFFS].queue(viewer(request))
    return render(request, "console/_queue_list.html", views=views, short=_short)


async def queue_api(request: web.Request) -> web.StreamResponse:
    """GET /console/api/queue."""
    views = await request.config_dict[HANDOFFS].queue(viewer(request))
    return web.json_response({"handoffs": [v.as_json() for v in views]})


# ----- one conversation --------------------------------------------------------------------


async def live_document(request: web.Request) -> dict[str, Any] | None:
    """The knowledge base's live catalogue (the seed files without the knowledge feature)."""
    live = request.config_dict.get(LIVE_CATALOGUE)
    if live is not None:
        document = await live()
        if document is not None:
            return document
    return seed_document(request.config_dict[keys.SETTINGS].knowledge_dir)


def _canned(
    who: Viewer,
    view: HandoffView,
    replies: Sequence[CannedReply],
    document: dict[str, Any] | None = None,
) -> tuple[str, list[CannedButton]]:
    first = "en" if view.language == "en" else "km"
    second = "km" if first == "en" else "en"
    values = {"agent": who.display_name, "org": view.organisation_name}
    buttons = []
    for lang in (first, second):
        for reply in replies:
            text = reply.text(lang, document, **values)
            short = shorten(text, CANNED_CHARS + 1)  # a button's title, cut between clusters
            buttons.append(CannedButton(lang, text, short))
    return first, buttons


async def conversation(request: web.Request) -> web.StreamResponse:
    """One conversation: header, summary, history and actions."""
    who = viewer(request)
    console = state(request)
    view, history = await request.config_dict[HANDOFFS].conversation(who, _handoff_id(request))
    orgs, agents = await console.admin.transfer_targets(
        None if who.is_admin else who.organisation_id
    )
    mine = view.status == HandoffStatus.CLAIMED and view.agent_id == who.agent_id
    replies = console.canned.current() if mine else []
    quotes = any(reply.facts() for reply in replies)
    document = await live_document(request) if quotes else None
    first, canned = _canned(who, view, replies, document) if mine else ("km", [])
    return render(
        request,
        "console/conversation.html",
        title=f"#{view.id}",
        page="conversation",
        handoff=view.id,
        view=view,
        lines=_lines(history, ui_language(request)),
        summary=summarise(view, history),
        mine=mine,
        may_move=who.is_supervisor or mine or view.status == HandoffStatus.QUEUED,
        reply_lang=first,
        canned=canned,
        orgs=[o for o in orgs if o.id != view.organisation_id],
        agents=[a for a in agents if a.id != view.agent_id],
        statuses=HandoffStatus,
    )


async def conversation_partial(request: web.Request) -> web.StreamResponse:
    """The history alone, for live refreshes."""
    history = await request.config_dict[HANDOFFS].history(viewer(request), _handoff_id(request))
    return render(request, "console/_history.html", lines=_lines(history, ui_language(request)))


async def conversation_api(request: web.Request) -> web.StreamResponse:
    """GET /console/api/handoffs/{id}: header, summary and history as JSON."""
    view, history = await request.config_dict[HANDOFFS].conversation(
        viewer(request), _handoff_id(request)
    )
    summary = summarise(view, history)
    return web.json_response(
        {
            "handoff": view.as_json(),
            "summary": summary.__dict__,
            "history": [i.as_json() for i in history],
        }
    )


def _conversation_url(request: web.Request, handoff_id: int) -> str:
    return state(request).registry.url("handoff:conversation", id=handoff_id)


async def claim(request: web.Request) -> web.StreamResponse:
    """Take a queued conversation."""
    view = await request.config_dict[HANDOFFS].claim(viewer(request), _handoff_id(request))
    return done(request, _conversation_url(request, view.id), {"handoff": view.as_json()})


async def reply(request: web.Request) -> web.StreamResponse:
    """Send the agent's words to the citizen."""
    handoff_id = _handoff_id(request)
    text = (await payload(request)).get("text", "")
    await request.config_dict[HANDOFFS].reply(viewer(request), handoff_id, text)
    return done(request, _conversation_url(request, handoff_id), {"ok": True})


async def note(request: web.Request) -> web.StreamResponse:
    """A private note for colleagues."""
    handoff_id = _handoff_id(request)
    text = (await payload(request)).get("text", "")
    await request.config_dict[HANDOFFS].note(viewer(request), handoff_id, text)
    return done(request, _conversation_url(request, handoff_id), {"ok": True})


async def transfer(request: web.Request) -> web.StreamResponse:
    """To another organisation's queue, or to a named agent."""
    who = viewer(request)
    data = await payload(request)
    view = await request.config_dict[HANDOFFS].transfer(
        who,
        _handoff_id(request),
        organisation_id=number(data.get("organisation_id"), "organisation_id"),
        agent_id=number(data.get("agent_id"), "agent_id"),
    )
    queue_url = state(request).registry.url("handoff:queue")
    back = _conversation_url(request, view.id) if who.may_see(view.organisation_id) else queue_url
    return done(request, back, {"handoff": view.as_json()})


async def close(request: web.Request) -> web.StreamResponse:
    """Hand the citizen back to the assistant."""
    await request.config_dict[HANDOFFS].close(viewer(request), _handoff_id(request))
    return done(request, state(request).registry.url("handoff:queue"), {"ok": True})


async def take_over(request: web.Request) -> web.StreamResponse:
    """A supervisor or admin steps into a conversation the assistant is having."""
    data = await payload(request)
    view = await request.config_dict[HANDOFFS].take_over(
        viewer(request), data.get("channel", ""), data.get("chat_id", "")
    )
    return done(request, _conversation_url(request, view.id), {"handoff": view.as_json()})


# ----- live events --------------------------------------------------------------------------


def _visible(who: Viewer, event: LiveEvent) -> bool:
    if event.kind == RESYNC:  # names no conversation: every page re-reads what it may see
        return True
    if event.organisation_id is None:
        return who.is_admin
    return who.may_see(event.organisation_id)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: which conversation changed (never what was said: the page
    fetches that through the permission checks). Ends at logout, expiry or shutdown."""
    auth = request[AUTH]
    console = state(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            **SECURITY_HEADERS,
        }
    )
    who = auth.viewer

    def accept(event: LiveEvent) -> bool:  # filtered when published: no wake-up for others
        return event.kind == SHUTDOWN_EVENT or _visible(who, event)

    async with request.config_dict[LIVE].subscribe(accept) as live:
        await response.prepare(request)
        await response.write(f"retry: {SSE_RETRY_MS}\n\n".encode())
        while True:
            try:
                async with asyncio.timeout(SSE_KEEPALIVE_S):  # no task per event (wait_for)
                    event = await live.get()
            except TimeoutError:
                if await console.auth.session(request.cookies.get(COOKIE)) is None:
                    break  # logged out, expired or deactivated: stop the stream
                await response.write(b": keep-alive\n\n")
                continue
            # Everything already queued goes out in one write, each change once: the page
            # re-reads what changed, so a repeat of the same (kind, conversation) adds nothing.
            batch = [event]
            while not live.empty() and len(batch) < SSE_BATCH:
                batch.append(live.get_nowait())
            if any(e.kind == SHUTDOWN_EVENT for e in batch):
                break
            chunks: dict[tuple[str, int | None], bytes] = {}
            for e in batch:
                if _visible(who, e):
                    chunks.setdefault((e.kind, e.handoff_id), e.sse)
            if chunks:
                await response.write(b"".join(chunks.values()))
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


# ----- supervision --------------------------------------------------------------------------


async def supervisor(request: web.Request) -> web.StreamResponse:
    """Stats per organisation (supervisors: their own; admins: all)."""
    stats = await request.config_dict[HANDOFFS].stats(viewer(request))
    return render(request, "console/supervisor.html", title="", page="supervisor", stats=stats)


async def stats_api(request: web.Request) -> web.StreamResponse:
    """GET /console/api/stats."""
    stats = await request.config_dict[HANDOFFS].stats(viewer(request))
    return web.json_response({"organisations": [s.as_json() for s in stats]})


def _conversations(routes: FeatureRoutes) -> None:
    routes.get("/", queue, name="queue")
    routes.get("/partial/queue", queue_partial, name="queue_partial")
    routes.get("/c/{id}", conversation, name="conversation")
    routes.get("/partial/c/{id}", conversation_partial, name="conversation_partial")
    routes.get("/events", events, name="events")
    routes.api_get("/queue", queue_api, name="queue_api")
    routes.api_get("/handoffs/{id}", conversation_api, name="conversation_api")
    for action, handler in (
        ("claim", claim),
        ("reply", reply),
        ("note", note),
        ("transfer", transfer),
        ("close", close),
    ):
        routes.api_post(f"/handoffs/{{id}}/{action}", handler, name=action)
    routes.api_post("/takeover", take_over, name="takeover")


def _supervision(routes: FeatureRoutes) -> None:
    routes.get("/supervisor", supervisor, name="stats")
    routes.api_get("/stats", stats_api, name="stats_api")


def _conversation_back(request: web.Request) -> str:
    found = request.match_info.get("id", "")
    if found.isdigit() and "/handoffs/" in request.path:
        return _conversation_url(request, int(found))
    return state(request).registry.url("handoff:queue")


HANDOFF_FEATURES = (
    ConsoleFeature(
        name="handoff",
        label_km="ជួររង់ចាំ",
        label_en="Queue",
        roles=CSO_ROLES,
        setup=_conversations,
        home="queue",
        back=_conversation_back,
    ),
    ConsoleFeature(
        name="supervision",
        label_km="អ្នកត្រួតពិនិត្យ",
        label_en="Supervisor",
        roles=frozenset({Role.SUPERVISOR, Role.ADMIN}),
        setup=_supervision,
        home="stats",
    ),
)
