"""Telegram through python-telegram-bot 22: our aiohttp route feeds an updater-less Application.

The route authenticates, persists and answers 200; PTB then runs the protocol duties that must
happen at once (answering callback queries, noticing a blocked bot). Replies are sent by the
pipeline through :class:`TelegramChannel`.
"""

from __future__ import annotations

import html
import logging
import math
from datetime import timedelta
from typing import Any, TypeGuard

from telegram import (
    Bot,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, InlineKeyboardButtonLimit, MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
)

from .._exceptions import (
    BadInbound,
    ChannelError,
    RateLimited,
    RecipientBlocked,
    Undeliverable,
    UnsupportedUpdate,
)
from .._settings import Settings
from ..rasa._client import RasaReply
from ..storage._db import CHAT_ID_LEN, EXTERNAL_ID_LEN
from ..storage._models import InboundKind, InboundMessage
from ..storage._store import Store
from ._base import callback_key
from ._geo import Commune, nearest_commune
from ._ptb_aiohttp import AiohttpRequest
from ._text_split import split_text, utf16_len
from ._texts import author_line, detect_language

__all__ = [
    "ALLOWED_UPDATES",
    "CHANNEL",
    "INFORM_PLACE_PAYLOAD",
    "TelegramChannel",
    "build_application",
    "check_update",
    "parse_update",
]

log = logging.getLogger("bot.telegram")

CHANNEL = "telegram"
STORE_KEY = "store"  # bot_data key under which handlers find the Store
# Sent to setWebhook explicitly: "If not specified, the previous setting will be used."
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH  # 4096
MAX_CALLBACK_DATA = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # 64 bytes
INFORM_PLACE_PAYLOAD = "/inform_place"
# Message attributes that carry media we cannot read: acknowledged, offered to a human.
MEDIA_ATTRIBUTES = (
    "voice",
    "audio",
    "photo",
    "video",
    "video_note",
    "document",
    "sticker",
    "animation",
    "contact",
    "venue",
    "poll",
    "dice",
)
BLOCKED_STATUSES = {ChatMember.BANNED, ChatMember.LEFT}
POLL_READ_MARGIN_S = 30.0  # getUpdates long-polls: its read timeout must exceed the poll
# "at most 52 significant bits, so a signed 64-bit integer or double-precision float type
# are safe for storing this identifier": anything larger was never sent by Telegram.
MAX_CHAT_ID = 2**52 - 1
LIMITS = {"latitude": 90.0, "longitude": 180.0}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInbound(f"{field} must be an object")
    return value


def _check_id(value: Any, field: str) -> None:
    """A chat or user id as Telegram sends them: an integer that fits the chat_id column."""
    if not _is_int(value) or abs(value) > MAX_CHAT_ID or len(str(value)) > CHAT_ID_LEN:
        raise BadInbound(f"{field} must be a Telegram id")


def _check_optional_str(container: dict[str, Any], key: str, field: str) -> None:
    if container.get(key) is not None and not isinstance(container[key], str):
        raise BadInbound(f"{field}.{key} must be a string")


def _check_location(value: Any, field: str) -> None:
    location = _object(value, field)
    for key, limit in LIMITS.items():
        number = location.get(key)
        if not (_is_int(number) or isinstance(number, float)):
            raise BadInbound(f"{field}.{key} must be a number")
        if not (math.isfinite(number) and abs(number) <= limit):
            raise BadInbound(f"{field}.{key} must be within +-{limit:g}")


def _check_message(value: Any, field: str) -> None:
    message = _object(value, field)
    _check_id(_object(message.get("chat"), f"{field}.chat").get("id"), f"{field}.chat.id")
    _check_optional_str(message, "text", field)
    if message.get("location") is not None:
        _check_location(message["location"], f"{field}.location")


def check_update(data: Any) -> None:
    """Check the fields the gateway reads against the Bot API's types, before PTB parses
    the update: a message without a chat, a text that is not a string or a chat id Telegram
    could never have sent is refused with a 400 instead of failing later (a 500, or a send
    retried forever). Lengths are those of the columns the ids are stored in."""
    update = _object(data, "a Telegram update")
    update_id = update.get("update_id")
    if not _is_int(update_id) or update_id < 0 or len(str(update_id)) > EXTERNAL_ID_LEN:
        raise BadInbound("a Telegram update needs a non-negative integer update_id")
    for key in ("message", "edited_message"):
        if update.get(key) is not None:
            _check_message(update[key], key)
    if update.get("callback_query") is not None:
        query = _object(update["callback_query"], "callback_query")
        sender = _object(query.get("from"), "callback_query.from")
        _check_id(sender.get("id"), "callback_query.from.id")
        _check_optional_str(query, "data", "callback_query")
        if query.get("message") is not None:
            _check_message(query["message"], "callback_query.message")
    if update.get("my_chat_member") is not None:
        change = _object(update["my_chat_member"], "my_chat_member")
        chat = _object(change.get("chat"), "my_chat_member.chat")
        _check_id(chat.get("id"), "my_chat_member.chat.id")
        member = _object(change.get("new_chat_member"), "my_chat_member.new_chat_member")
        _check_optional_str(member, "status", "my_chat_member.new_chat_member")


def _location_meta(lat: float, lon: float, communes: list[Commune]) -> dict[str, Any]:
    meta: dict[str, Any] = {"location": {"latitude": lat, "longitude": lon}}
    found = nearest_commune(lat, lon, communes)
    if found is not None:
        commune, km = found
        meta["place_code"] = commune.code
        meta["commune"] = {
            "code": commune.code,
            "name_km": commune.name_km,
            "name_latin": commune.name_latin,
            "distance_km": round(km, 2),
        }
    return meta


def _from_message(update_id: int, message: Message, communes: list[Commune]) -> InboundMessage:
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "external_id": str(update_id),
        "chat_id": str(message.chat.id),
    }
    if message.text is not None:
        text = message.text
        return InboundMessage(
            **base, kind=InboundKind.TEXT, text=text, language=detect_language(text)
        )
    if message.location is not None:
        loc = message.location
        return InboundMessage(
            **base,
            kind=InboundKind.LOCATION,
            text=INFORM_PLACE_PAYLOAD,
            meta=_location_meta(loc.latitude, loc.longitude, communes),
        )
    for attribute in MEDIA_ATTRIBUTES:
        if getattr(message, attribute, None):
            return InboundMessage(**base, kind=InboundKind.MEDIA, meta={"media": attribute})
    # Anything else a person sent (service messages aside) is still acknowledged.
    return InboundMessage(**base, kind=InboundKind.MEDIA, meta={"media": "other"})


async def parse_update(
    update: Update, store: Store, communes: list[Commune]
) -> InboundMessage | None:
    """A citizen message from an update; None for updates handled elsewhere or ignored.

    Raises UnsupportedUpdate for update types we never asked Telegram for.
    """
    if update.message is not None:
        return _from_message(update.update_id, update.message, communes)
    if update.callback_query is not None:
        query = update.callback_query
        data = query.data or ""
        payload = await store.callback_payload(data)
        if payload is None:
            payload = data if data.startswith("/") else ""
        chat = query.message.chat.id if query.message is not None else query.from_user.id
        if not payload:
            log.warning("telegram.unknown_callback_data")
            return None
        return InboundMessage(
            channel=CHANNEL,
            external_id=str(update.update_id),
            chat_id=str(chat),
            kind=InboundKind.BUTTON,
            text=payload,
        )
    if update.edited_message is not None or update.my_chat_member is not None:
        # Edits (incl. live-location moves) are not new questions; member changes are
        # handled by the PTB handler below.
        return None
    raise UnsupportedUpdate(f"unsupported Telegram update {update.update_id}")


async def on_callback_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop the button's spinner; the tap itself was already queued for Rasa."""
    query = update.callback_query
    if query is None:
        return
    # CallbackQueries need to be answered, even if no notification to the user is needed:
    # Telegram clients show a progress bar until then.
    await query.answer()


async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A citizen who blocks the bot must not receive broadcasts; unblocking re-enables."""
    change = update.my_chat_member
    if change is None:
        return
    store: Store = context.bot_data[STORE_KEY]
    active = change.new_chat_member.status not in BLOCKED_STATUSES
    await store.set_chat_flags(CHANNEL, str(change.chat.id), active=active)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handler errors are logged, never raised into the web request."""
    log.warning("telegram.handler_error", extra={"error": repr(context.error)})


def build_application(
    settings: Settings, store: Store
) -> Application[Any, Any, Any, Any, Any, Any]:
    """PTB Application without an Updater: updates arrive through our own webhook route."""
    request = AiohttpRequest(
        read_timeout=settings.send_timeout_s, connect_timeout=settings.send_timeout_s
    )
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_url)
        .request(request)
        .get_updates_request(
            AiohttpRequest(
                read_timeout=settings.send_timeout_s + POLL_READ_MARGIN_S,
                connect_timeout=settings.send_timeout_s,
                pool_size=1,
            )
        )
        .updater(None)
        .build()
    )
    application.bot_data[STORE_KEY] = store
    application.add_handler(CallbackQueryHandler(on_callback_query))
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_error_handler(on_error)
    return application


def _retry_seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramChannel:
    """Renders Rasa replies as escaped HTML with inline keyboards and sends them with PTB."""

    name = CHANNEL
    needs_callback_keys = True
    retires_buttons = True  # inline keyboards stay tappable until edited away

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    def render(self, replies: list[RasaReply]) -> list[dict[str, Any]]:
        """One body per Telegram message: text split at 4,096 characters, buttons on the last."""
        bodies: list[dict[str, Any]] = []
        for reply in replies:
            text = str(reply.get("text") or "")
            if reply.get("image"):
                text = f"{text}\n{reply['image']}".strip()
            buttons = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in reply.get("buttons") or []
                if b.get("payload")
            ]
            # A person, not the assistant, is talking: their name goes above their words
            # when sent (the stored body keeps the words alone, as the console shows them).
            author = author_line(reply)
            room = MAX_TEXT - (utf16_len(author) + 1 if author else 0)
            # Split the raw text, then escape: the limit counts characters after parsing.
            chunks = split_text(text, room, utf16=True) or ([""] if buttons else [])
            for i, chunk in enumerate(chunks):
                body: dict[str, Any] = {"html": html.escape(chunk, quote=False)}
                if author and i == 0:
                    body["author"] = author
                if i == len(chunks) - 1 and buttons:
                    body["buttons"] = buttons
                bodies.append(body)
        return bodies

    @staticmethod
    def keyboard(buttons: list[dict[str, str]]) -> InlineKeyboardMarkup:
        """One button per row (Khmer titles are long); callback data is a short stored key."""
        rows = []
        for button in buttons:
            data = callback_key(button["payload"])
            assert len(data.encode()) <= MAX_CALLBACK_DATA  # noqa: S101  (key length is fixed)
            rows.append([InlineKeyboardButton(button["title"], callback_data=data)])
        return InlineKeyboardMarkup(rows)

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        """sendMessage; maps 429 to RateLimited, 403 to RecipientBlocked, and what retrying
        cannot fix (400 such as "chat not found", a request that cannot be built) to
        Undeliverable."""
        try:
            markup = self.keyboard(body["buttons"]) if body.get("buttons") else None
            text = body.get("html") or "\u2060"  # buttons-only replies still need a text
            if body.get("author"):  # a person's name in bold, above their words
                text = f"<b>{html.escape(str(body['author']), quote=False)}</b>\n{text}"
            message = await self._bot.send_message(
                chat_id=int(chat_id), text=text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"Telegram: cannot build the request ({type(exc).__name__})"
            raise Undeliverable(reason) from exc
        except RetryAfter as exc:
            raise RateLimited(_retry_seconds(exc.retry_after), "Telegram 429") from exc
        except Forbidden as exc:
            raise RecipientBlocked(f"Telegram 403: {exc.message}") from exc
        except BadRequest as exc:
            raise Undeliverable(f"Telegram 400: {exc.message}") from exc
        except TelegramError as exc:
            raise ChannelError(f"Telegram: {exc.message}") from exc
        return str(message.message_id)

    def recorded(self, chat_id: str) -> None:
        """Nothing to do: the platform already has the message."""

    async def retire_buttons(self, chat_id: str, message_id: str) -> None:
        """editMessageReplyMarkup without a markup: the old turn's buttons disappear, so a
        citizen cannot answer a question the conversation has left behind."""
        try:
            await self._bot.edit_message_reply_markup(
                chat_id=int(chat_id), message_id=int(message_id), reply_markup=None
            )
        except (TelegramError, ValueError) as exc:  # gone, too old, or already without
            log.info("telegram.retire_buttons_failed", extra={"error": str(exc)})

    async def typing(self, chat_id: str) -> None:
        """sendChatAction typing; failure only costs the indicator."""
        try:
            await self._bot.send_chat_action(chat_id=int(chat_id), action=ChatAction.TYPING)
        except TelegramError as exc:
            log.info("telegram.typing_failed", extra={"error": exc.message})
