"""The aiohttp application factory: routes, middlewares, and every resource in cleanup_ctx."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text
from telegram import Update
from telegram.error import TelegramError

from . import keys
from ._exceptions import BadInbound, UnsupportedUpdate
from ._metrics import Metrics
from ._settings import Settings
from .alerts._web import ALERTS_FEATURE, add_alert_routes
from .cases import CASE_TIMER, CASES, make_cases, run_case_timer
from .cases._web import CASES_FEATURE
from .channels import COMMUNES, MESSENGER, POLLER_KEY, TELEGRAM, TELEGRAM_APP, WEBCHAT_KEY
from .channels._geo import load_communes
from .channels._messenger import (
    MessengerChannel,
    delivered_mids,
    parse_events,
    verify_challenge,
    verify_signature,
)
from .channels._somleng import SOMLENG, add_somleng_routes, somleng_ctx
from .channels._telegram import (
    ALLOWED_UPDATES,
    TelegramChannel,
    build_application,
    check_update,
    parse_update,
)
from .channels._webchat import (
    CHANNEL as WEBCHAT,
)
from .channels._webchat import (
    WebChatChannel,
    parse_poll,
    parse_webchat_message,
)
from .channels._webchat_routes import add_webchat_routes
from .console import setup_console
from .conversation import PIPELINE, WORKER_KEY
from .conversation._pipeline import Pipeline
from .dashboard import DASHBOARD_FEATURE, add_figures_routes
from .delivery import DeliveryEngine, make_pacer
from .dissemination import DISSEMINATION
from .dissemination._runtime import Dissemination
from .dissemination._web import BROADCASTS_FEATURE
from .dissemination._web import add_public_routes as add_announcement_routes
from .handoff import ESCALATOR_KEY, HANDOFFS, LIVE, HandoffService, LiveHub, PlaceNames, live_relay
from .knowledge import KNOWLEDGE_FEATURE, add_knowledge_api
from .rasa import RASA, RASA_WARMER_KEY
from .rasa._client import RasaClient
from .storage._db import create_engine
from .storage._migrate import migrate
from .storage._models import InboundMessage
from .storage._store import Store
from .training import TRAINING_FEATURE, TRAINING_SETTINGS, TrainingSettings

__all__ = ["create_app"]

log = logging.getLogger("bot.app")

TELEGRAM_PATH = "/telegram/webhook"
MESSENGER_PATH = "/messenger/webhook"
WEBCHAT_PATH = "/chat"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
POLL_TIMEOUT_S = 25
POLL_ERROR_PAUSE_S = 5.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _check_charset(request: web.Request) -> None:
    """A charset Python does not know would fail the first ``request.post()`` or ``text()``
    with a LookupError (a 500); refused up front instead."""
    if request.charset:
        try:
            codecs.lookup(request.charset)
        except LookupError as exc:
            raise BadInbound("unknown charset") from exc


@web.middleware
async def bad_input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input is the sender's fault: a clear 4xx, counted, never a 5xx.

    One answer per kind, on every channel: 400 malformed (not JSON, nested too deep, a
    field of the wrong type, an id the platform could never have sent or longer than its
    column, a number out of range); 403 bad credentials (decided in the routes, before
    the body is read); 413 too large; 422 well-formed but of a kind the gateway does not
    handle.
    """
    try:
        _check_charset(request)
        return await handler(request)
    except UnicodeError:  # a form or text body (or a multipart boundary) not in its charset
        request.app[keys.METRICS].inc("gateway_rejected_total", reason="bad_request")
        return _error(400, "the body is not valid text in its charset")
    except UnsupportedUpdate as exc:
        request.app[keys.METRICS].inc("gateway_rejected_total", reason="unsupported")
        return _error(422, str(exc))
    except BadInbound as exc:
        request.app[keys.METRICS].inc("gateway_rejected_total", reason="bad_request")
        return _error(400, str(exc))
    except web.HTTPRequestEntityTooLarge:
        request.app[keys.METRICS].inc("gateway_rejected_total", reason="too_large")
        return _error(413, "body too large")


def _decode_json(body: bytes) -> Any:
    """JSON or a 400: nesting deeper than the parser's recursion limit is malformed too."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInbound("malformed JSON") from exc


async def _read_json(request: web.Request) -> tuple[bytes, Any]:
    body = await request.read()  # raises 413 beyond client_max_size
    return body, _decode_json(body)


def _same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a header with a secret; a header the server decoded with
    surrogate escapes (latin-1 bytes) compares as its bytes instead of failing."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


async def accept(app: web.Application, msg: InboundMessage) -> bool:
    """Persist (deduplicated) and wake the worker; True if the message is new."""
    new = await app[keys.STORE].ingest(msg)
    if new:
        app[keys.METRICS].inc("gateway_inbound_total", channel=msg.channel)
        app[PIPELINE].wake(msg.channel, msg.chat_id)
    else:
        app[keys.METRICS].inc("gateway_duplicates_total", channel=msg.channel)
    return new


async def handle_telegram_update(app: web.Application, data: Any) -> bool:
    """Shared by webhook and polling: parse, persist, then let PTB do its protocol duties."""
    check_update(data)
    application = app[TELEGRAM_APP]
    try:
        update = Update.de_json(data, application.bot)
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,  # a date beyond datetime's range
        OSError,  # ... or beyond the platform's time_t
        RecursionError,  # reply_to_message nested thousands deep
    ) as exc:
        raise BadInbound("malformed Telegram update") from exc
    msg = await parse_update(update, app[keys.STORE], app[COMMUNES])
    new = True if msg is None else await accept(app, msg)
    if new and (update.callback_query is not None or update.my_chat_member is not None):
        # PTB's handlers (the button's spinner, blocked/unblocked) want only these; a plain
        # message has no protocol duty, and a trip through PTB's queue costs CPU per message.
        await application.update_queue.put(update)
    return new


async def telegram_webhook(request: web.Request) -> web.Response:
    """POST from Telegram: secret header first, then persist; 200 means "stored"."""
    settings = request.app[keys.SETTINGS]
    if not _same_secret(request.headers.get(SECRET_HEADER, ""), settings.telegram_secret):
        request.app[keys.METRICS].inc("gateway_rejected_total", reason="forbidden")
        return _error(403, "bad secret token")
    _body, data = await _read_json(request)
    new = await handle_telegram_update(request.app, data)
    return web.json_response({"ok": True, "duplicate": not new})


async def messenger_verify(request: web.Request) -> web.Response:
    """GET subscription check: echo hub.challenge only for our verify token."""
    settings = request.app[keys.SETTINGS]
    challenge = verify_challenge(settings.messenger_verify_token, dict(request.query))
    if challenge is None:
        return _error(403, "verification failed")
    return web.Response(text=challenge)


async def messenger_webhook(request: web.Request) -> web.Response:
    """POST events: HMAC over the raw body, then every messaging event of every entry."""
    settings = request.app[keys.SETTINGS]
    body = await request.read()
    if not verify_signature(
        settings.messenger_app_secret, body, request.headers.get("X-Hub-Signature-256")
    ):
        request.app[keys.METRICS].inc("gateway_rejected_total", reason="forbidden")
        return _error(403, "bad signature")
    accepted = 0
    payload = _decode_json(body)
    for msg in parse_events(payload):
        accepted += await accept(request.app, msg)
    # delivery events: the broadcasts' reports count their messages as delivered
    deliveries = delivered_mids(payload)
    if deliveries and DISSEMINATION in request.app:
        await request.app[DISSEMINATION].record_deliveries("messenger", deliveries)
    return web.json_response({"ok": True, "accepted": accepted})


async def webchat_post(request: web.Request) -> web.Response:
    """A message typed (or a button tapped) in the page."""
    _body, data = await _read_json(request)
    new = await accept(request.app, parse_webchat_message(data))
    return web.json_response({"ok": True, "duplicate": not new}, status=202)


async def webchat_poll(request: web.Request) -> web.Response:
    """Replies after ``after``; waits up to ``wait`` seconds for the first one."""
    session, after, wait = parse_poll(request.query)
    store = request.app[keys.STORE]
    rows = await store.sent_since(WEBCHAT, session, after)
    if not rows and wait > 0:
        await request.app[WEBCHAT_KEY].wait(session, wait)
        rows = await store.sent_since(WEBCHAT, session, after)
    return web.json_response({"messages": [{"id": r.id, **r.body} for r in rows]})


async def healthz(request: web.Request) -> web.Response:
    """200 while the database answers and the worker runs (Rasa down is not unhealthy:
    messages then queue, which is the point)."""
    app = request.app
    checks: dict[str, Any] = {}
    healthy = True
    try:
        async with app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks.update(await app[keys.STORE].counts())
    except Exception as exc:  # report, do not crash the probe
        healthy = False
        checks["database"] = type(exc).__name__
    worker = app.get(WORKER_KEY)
    checks["worker"] = "running" if worker is not None and not worker.done() else "stopped"
    healthy = healthy and checks["worker"] == "running"
    checks["rasa"] = "ok" if await app[RASA].ready() else "unavailable"
    checks["status"] = "ok" if healthy else "unhealthy"
    return web.json_response(checks, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    app = request.app
    gauges: dict[str, float] = {
        "gateway_chats_in_flight": app[PIPELINE].in_flight,
        "gateway_console_live_connections": app[LIVE].subscribers,
    }
    with contextlib.suppress(Exception):
        for name, value in (await app[keys.STORE].counts()).items():
            gauges[f"gateway_{name}"] = value
        gauges["gateway_handoffs_open"] = await app[HANDOFFS].count_open()
    return web.Response(
        text=app[keys.METRICS].render(gauges),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def index(request: web.Request) -> web.Response:
    """The root points people at the chat page."""
    raise web.HTTPFound(WEBCHAT_PATH)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    engine, sessions = create_engine(settings.database_url)
    if settings.auto_migrate:
        await migrate(engine)
    app[keys.ENGINE] = engine
    app[keys.STORE] = Store(sessions, engine.dialect.name)
    yield
    await engine.dispose()


async def _rasa_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[RASA] = RasaClient(
        settings.rasa_urls,
        timeout_s=settings.rasa_timeout_s,
        max_in_flight=settings.rasa_max_in_flight,
        token=settings.rasa_token,
    )
    app[RASA_WARMER_KEY] = asyncio.create_task(app[RASA].keep_warm(), name="rasa-connections")
    yield
    await _cancel(app[RASA_WARMER_KEY])
    await app[RASA].aclose()


async def _telegram_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    application = build_application(settings, app[keys.STORE])
    app[TELEGRAM_APP] = application
    async with application:  # initialize() (getMe) ... shutdown()
        await application.start()  # processes update_queue: callback answers, member changes
        app[TELEGRAM] = TelegramChannel(application.bot)
        try:
            yield
        finally:
            if application.running:  # shutdown() refuses a running Application
                await application.stop()


async def _messenger_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    channel = MessengerChannel(
        page_token=settings.messenger_page_token,
        graph_url=settings.graph_api_url,
        timeout_s=settings.send_timeout_s,
    )
    app[MESSENGER] = channel
    yield
    await channel.aclose()


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel a background task and wait for it to end. An error it raises on the way out
    (a query cut short, its connection gone) is logged, so the shutdown goes on closing
    the other resources instead of failing."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.warning(
            "app.task_failed_while_stopping", exc_info=True, extra={"task": task.get_name()}
        )


async def _escalate_forever(app: web.Application) -> None:
    """Move conversations nobody claimed within their service level to the national pool."""
    service = app[HANDOFFS]
    while True:
        await asyncio.sleep(app[keys.SETTINGS].handoff_check_s)
        try:
            await service.escalate_overdue()
        except Exception:  # a database hiccup must not stop escalation for good
            log.exception("handoff.escalation_failed")


async def _pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    webchat = WebChatChannel()
    app[WEBCHAT_KEY] = webchat
    channels: dict[str, Any] = {webchat.name: webchat}
    if settings.telegram_enabled:
        channels[app[TELEGRAM].name] = app[TELEGRAM]
    if settings.messenger_enabled:
        channels[app[MESSENGER].name] = app[MESSENGER]
    for name, phone in app[SOMLENG].items():  # sms and voice, when Somleng is configured
        channels[name] = phone
    pacer = make_pacer(settings)
    delivery = DeliveryEngine(
        store=app[keys.STORE],
        channels=channels,
        pacer=pacer,
        settings=settings,
        metrics=app[keys.METRICS],
    )

    def wake(channel: str, chat_id: str) -> None:
        # a handoff's notices and agents' messages are queued rows: the engine sends them
        app[PIPELINE].wake(channel, chat_id)
        delivery.wake()

    handoffs = HandoffService(
        store=app[keys.STORE],
        rasa=app[RASA],
        channels=channels,
        hub=app[LIVE],
        places=PlaceNames.load(settings.gazetteer_path.parent),
        wake=wake,
    )
    await handoffs.ensure_national_pool()
    app[HANDOFFS] = handoffs
    # feedback and grievance cases (issue #16): the service, the chat form, the timer
    app[CASES], desk = make_cases(
        store=app[keys.STORE],
        channels=channels,
        knowledge_dir=settings.knowledge_dir,
        gazetteer_path=settings.gazetteer_path,
        wake=wake,
    )
    dissemination = Dissemination(  # broadcasts and alerts: the engine's bulk path
        engine=app[keys.ENGINE],
        owner=app[keys.STORE].owner,
        settings=settings,
        channels=channels,
        metrics=app[keys.METRICS],
    )
    app[DISSEMINATION] = dissemination.service
    pipeline = Pipeline(
        store=app[keys.STORE],
        rasa=app[RASA],
        channels=channels,
        settings=settings,
        metrics=app[keys.METRICS],
        handoffs=handoffs,
        wake_delivery=delivery.wake,
        desk=desk,
        intercept=dissemination.chat,
    )
    app[PIPELINE] = pipeline
    sender = asyncio.create_task(delivery.run(), name="delivery")
    app[WORKER_KEY] = asyncio.create_task(pipeline.run(), name="pipeline")
    app[ESCALATOR_KEY] = asyncio.create_task(_escalate_forever(app), name="escalation")
    app[CASE_TIMER] = asyncio.create_task(
        run_case_timer(app[CASES], settings.handoff_check_s), name="case-timer"
    )
    yield
    await _cancel(app[CASE_TIMER])
    await _cancel(app[ESCALATOR_KEY])
    await _cancel(app[WORKER_KEY])
    await _cancel(sender)  # after the pipeline: sends in flight finish and are recorded
    await dissemination.aclose()
    await pacer.aclose()


async def _poll_telegram(app: web.Application) -> None:
    """getUpdates loop for local development (no public URL, no webhook)."""
    bot = app[TELEGRAM_APP].bot
    offset = 0
    while True:
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=POLL_TIMEOUT_S, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramError as exc:
            log.warning("telegram.polling_failed", extra={"error": exc.message})
            await asyncio.sleep(POLL_ERROR_PAUSE_S)
            continue
        for update in updates:
            try:
                await handle_telegram_update(app, update.to_dict())
            except BadInbound as exc:
                log.info("telegram.polling_skipped", extra={"error": str(exc)})
            offset = update.update_id + 1


async def _live_ctx(app: web.Application) -> AsyncIterator[None]:
    """Live console events reach the other gateway processes (PostgreSQL only)."""
    async with live_relay(app[LIVE], app[keys.SETTINGS].database_url):
        yield


async def _polling_ctx(app: web.Application) -> AsyncIterator[None]:
    app[POLLER_KEY] = asyncio.create_task(_poll_telegram(app), name="telegram-polling")
    yield
    await _cancel(app[POLLER_KEY])


def create_app(settings: Settings, *, training: TrainingSettings | None = None) -> web.Application:
    """Build the gateway; channels without credentials get no routes. ``training`` defaults
    to ``TrainingSettings.from_env()`` (tests pass their own, as they do ``settings``)."""
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[bad_input_middleware]
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app[LIVE] = LiveHub()
    app[COMMUNES] = load_communes(settings.gazetteer_path)
    app[TRAINING_SETTINGS] = training or TrainingSettings.from_env().for_gateway(settings)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_live_ctx)
    app.cleanup_ctx.append(_rasa_ctx)
    if settings.telegram_enabled:
        app.cleanup_ctx.append(_telegram_ctx)
        app.router.add_post(TELEGRAM_PATH, telegram_webhook)
    if settings.messenger_enabled:
        app.cleanup_ctx.append(_messenger_ctx)
        app.router.add_get(MESSENGER_PATH, messenger_verify)
        app.router.add_post(MESSENGER_PATH, messenger_webhook)
    app.cleanup_ctx.append(somleng_ctx)  # before the delivery engine, which sends through it
    app.cleanup_ctx.append(_pipeline_ctx)
    if settings.telegram_enabled and settings.telegram_polling:
        app.cleanup_ctx.append(_polling_ctx)
    app.router.add_get("/", index)
    add_webchat_routes(app)  # GET /chat (the page) and GET /webchat/history
    app.router.add_post("/webchat/messages", webchat_post)
    app.router.add_get("/webchat/messages", webchat_poll)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    # after _pipeline_ctx: the console needs the store and the handoffs; training is one of
    # its features (routes, menu entry, roles, the service's context)
    add_somleng_routes(app)  # Somleng's signed status callbacks
    add_alert_routes(app)  # CAP import (REST), the public CAP feed; the service: ALERTS_FEATURE
    setup_console(
        app,
        TRAINING_FEATURE,
        CASES_FEATURE,
        KNOWLEDGE_FEATURE,
        ALERTS_FEATURE,
        DASHBOARD_FEATURE,
        BROADCASTS_FEATURE,
    )
    add_figures_routes(app)  # the dashboard's public page: /figures (+ .csv, .json)
    add_knowledge_api(app)  # public, read-only: the live catalogue and its schema
    add_announcement_routes(app)  # /announcements and its Atom feed (public)
    return app
