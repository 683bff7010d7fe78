"""Subscriptions in chat (Telegram, Messenger, web chat), in Khmer and English, kept out of
Rasa's way: the gateway answers these messages itself.

* ``subscribe`` / ``ជាវ`` (or the button) asks for a place by name, Khmer or Latin, from the
  gazetteer (commune, district or province), then the topics (emergency alerts for that
  place offered by default), then confirms with a short privacy notice.
* ``STOP`` / ``ឈប់`` and their variants unsubscribe at any time, but only when the message
  is just that word: compared whole after normalising (zero-width spaces, case, spaces
  between Khmer words, end punctuation), so ``ឈប់ជក់បារី`` ("stop smoking") is a question
  for Rasa, not an unsubscription. A whole-message match is stricter than a match on the
  segmenter's word boundaries, which the gateway's environment does not have.
* ``my subscriptions`` / ``ការជាវរបស់ខ្ញុំ`` lists what the citizen receives, with buttons
  to change the place or the topics, or to stop.
* While the place is asked for, a shared location (its nearest commune, found by the
  channel) answers it; a point outside Cambodia asks for the name instead.
* "Also by SMS" / "also by voice call" ask for a phone number (``_numbers``), saved as a
  subscriber of its own (channel ``sms`` or ``voice``) with the chat's topics, place and
  language, and shown back masked.

The dialogue's step is the ``state`` column of the chat's ``gw_subscribers`` row.
"""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from khmer_nlu.normalize import normalize

from ..channels._geo import Commune, commune_points, nearest_commune
from ._numbers import cambodian_mobile, masked
from ._service import DisseminationService, Subscriber
from ._tables import Topic

__all__ = ["Places", "SubscriptionChat", "places_in"]

PREFIX = "/sub_"
ASK_PLACE = "ask_place"
ASK_TOPICS = "ask_topics"
ASK_PHONE = "ask_phone:"  # and the channel: ask_phone:sms, ask_phone:voice
PHONE_KINDS = ("sms", "voice")
# Cambodia's extent, with a margin: a shared point outside it is "outside Cambodia".
CAMBODIA_BOX = (9.5, 102.0, 15.0, 108.0)  # south, west, north, east
_DIGIT = re.compile(r"[0-9\u17e0-\u17e9]")
_NUMBER_LIKE = re.compile(r"^[+0-9\u17e0-\u17e9\s\-\.\(\)]+$")
MIN_DIGITS = 5
MAX_CHOICES = 5
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_KHMER_CHAR = re.compile(r"[\u1780-\u17ff]")
_KHMER_GAP = re.compile(r"(?<=[\u1780-\u17ff])\s+(?=[\u1780-\u17ff])")
_END_PUNCT = re.compile(r"[\s\.\!\?។៕!]+$")

STOP_WORDS = frozenset(
    {
        "stop",
        "unsubscribe",
        "stop all",
        "stopall",
        "cancel subscription",
        "/stop",
        "ឈប់",
        "ឈប់ជាវ",
        "បញ្ឈប់",
        "បញ្ឈប់ការជាវ",
        "ឈប់ទទួល",
        "ឈប់ផ្ញើ",
    }
)
SUBSCRIBE_WORDS = frozenset(
    {
        "subscribe",
        "/subscribe",
        "alerts",
        "subscribe to alerts",
        "ជាវ",
        "ចុះឈ្មោះ",
        "ជាវព័ត៌មាន",
        "ចុះឈ្មោះទទួលព័ត៌មាន",
    }
)
LIST_WORDS = frozenset(
    {
        "my subscriptions",
        "my subscription",
        "/subscriptions",
        "ការជាវរបស់ខ្ញុំ",
    }
)
UNIT_WORDS = (
    "ខេត្ត",
    "រាជធានី",
    "ក្រុង",
    "ស្រុក",
    "ខណ្ឌ",
    "ឃុំ",
    "សង្កាត់",
    "province",
    "district",
    "commune",
    "khaet",
    "srok",
    "khum",
    "sangkat",
    "krong",
    "khan",
)

TEXTS: dict[str, dict[str, str]] = {
    "ask_place": {
        "km": "សូមសរសេរឈ្មោះឃុំ/សង្កាត់ ស្រុក/ខណ្ឌ ឬខេត្តរបស់អ្នក ដើម្បីទទួលការជូនដំណឹងសម្រាប់ទីនោះ។",
        "en": "Type the name of your commune, district or province to get news and alerts for it.",
    },
    "not_found": {
        "km": "រកមិនឃើញទីកន្លែងនោះទេ។ សូមសរសេរឈ្មោះឃុំ ស្រុក ឬខេត្តម្តងទៀត។",
        "en": "I could not find that place. Please type the commune, district or province again.",
    },
    "choose_place": {"km": "តើទីកន្លែងមួយណា?", "en": "Which one?"},
    "ask_topics": {
        "km": "តើអ្នកចង់ទទួលព័ត៌មានអ្វីខ្លះ? ចុចលើប្រធានបទ រួចចុច «រួចរាល់»។",
        "en": "What would you like to receive? Tap the topics, then “Done”.",
    },
    "done": {"km": "រួចរាល់", "en": "Done"},
    "cancel": {"km": "បោះបង់", "en": "Cancel"},
    "cancelled": {"km": "មិនបានជាវទេ។", "en": "Not subscribed."},
    "phone_cancelled": {"km": "មិនបានរក្សាទុកលេខទូរសព្ទទេ។", "en": "No phone number saved."},
    "confirmed": {
        "km": "អ្នកបានជាវ៖ {topics} សម្រាប់ {place}។\n"
        "ឯកជនភាព៖ យើងរក្សាទុកតែលេខជជែក ទីកន្លែង ប្រធានបទ និងភាសារបស់អ្នក "
        "ដើម្បីផ្ញើព័ត៌មានទាំងនេះ ហើយមិនចែករំលែកជាមួយអ្នកដទៃទេ។ "
        "ផ្ញើ «ឈប់» នៅពេលណាក៏បាន ដើម្បីឈប់ទទួល។",
        "en": "You are subscribed to: {topics} for {place}.\n"
        "Privacy: we keep only your chat id, place, topics and language to send you these "
        "messages, and share them with no one. Send STOP at any time to stop.",
    },
    "stopped": {
        "km": "អ្នកនឹងលែងទទួលការជូនដំណឹងទៀតហើយ។ ផ្ញើ «ជាវ» ដើម្បីជាវម្តងទៀត។",
        "en": "You will not receive any more announcements or alerts. Send SUBSCRIBE to "
        "subscribe again.",
    },
    "not_subscribed": {
        "km": "អ្នកមិនទាន់បានជាវទេ។",
        "en": "You are not subscribed.",
    },
    "listing": {
        "km": "អ្នកទទួល៖ {topics}\nទីកន្លែង៖ {place}\nភាសា៖ ខ្មែរ",
        "en": "You receive: {topics}\nPlace: {place}\nLanguage: English",
    },
    "change_place": {"km": "ប្តូរទីកន្លែង", "en": "Change place"},
    "change_topics": {"km": "ប្តូរប្រធានបទ", "en": "Change topics"},
    "stop": {"km": "ឈប់ទទួល", "en": "Stop"},
    "subscribe": {"km": "ជាវ", "en": "Subscribe"},
    "whole_country": {"km": "ទូទាំងប្រទេស", "en": "the whole country"},
    # a shared location as the place
    "located": {
        "km": "ទីតាំងរបស់អ្នក៖ {place}។ បើមិនត្រូវ ចុច «ប្តូរទីកន្លែង» ហើយសរសេរឈ្មោះ។",
        "en": "Your location: {place}. Not right? Tap “Change place” and type the name.",
    },
    "outside": {
        "km": "ទីតាំងនោះនៅក្រៅប្រទេសកម្ពុជា។ សូមសរសេរឈ្មោះឃុំ/សង្កាត់ ស្រុក/ខណ្ឌ ឬខេត្តរបស់អ្នកជំនួសវិញ។",
        "en": "That location is outside Cambodia. Please type the name of your commune, "
        "district or province instead.",
    },
    "not_located": {
        "km": "ខ្ញុំរកឃុំ/សង្កាត់នៃទីតាំងនោះមិនឃើញទេ។ សូមសរសេរឈ្មោះឃុំ ស្រុក ឬខេត្តរបស់អ្នកជំនួសវិញ។",
        "en": "I could not match that location to a commune. Please type the name of your "
        "commune, district or province instead.",
    },
    # also by phone: SMS, or a voice call for those who do not read
    "also_sms": {"km": "ទទួលតាម SMS ផង", "en": "Also by SMS"},
    "also_voice": {"km": "ទទួលតាមការហៅ", "en": "Also by voice call"},
    "ask_phone_sms": {
        "km": "សូមសរសេរលេខទូរសព្ទរបស់អ្នក (ឧ. ០១២ ៣៤៥ ៦៧៨) ដើម្បីទទួលព័ត៌មានទាំងនេះតាម SMS។ "
        "យើងមិនដែលសុំលេខកូដ PIN ឬពាក្យសម្ងាត់ទេ។",
        "en": "Type your phone number (for example 012 345 678) to get these messages by SMS. "
        "We never ask for a PIN, password or code.",
    },
    "ask_phone_voice": {
        "km": "សូមសរសេរលេខទូរសព្ទរបស់អ្នក (ឧ. ០១២ ៣៤៥ ៦៧៨) ដើម្បីទទួលការហៅទូរសព្ទដែលអានព័ត៌មានទាំងនេះ។ "
        "យើងមិនដែលសុំលេខកូដ PIN ឬពាក្យសម្ងាត់ទេ។",
        "en": "Type your phone number (for example 012 345 678) to get a phone call that "
        "reads these messages out. We never ask for a PIN, password or code.",
    },
    "bad_phone": {
        "km": "នោះមិនមែនជាលេខទូរសព្ទចល័តកម្ពុជាទេ។ សូមសរសេរម្តងទៀត ឧ. ០១២ ៣៤៥ ៦៧៨ ឬ +855 12 345 678។",
        "en": "That is not a Cambodian mobile number. Please type it again, for example "
        "012 345 678 or +855 12 345 678.",
    },
    "by_sms": {"km": "សារ SMS", "en": "SMS messages"},
    "by_voice": {"km": "ការហៅទូរសព្ទ", "en": "phone calls"},
    "phone_confirmed": {
        "km": "រួចរាល់។ លេខ {number} នឹងទទួល{how}៖ {topics} សម្រាប់ {place}។\n"
        "ឯកជនភាព៖ យើងរក្សាទុកតែលេខទូរសព្ទ ទីកន្លែង ប្រធានបទ និងភាសា ដើម្បីផ្ញើព័ត៌មានទាំងនេះ "
        "ហើយមិនចែករំលែកជាមួយអ្នកដទៃទេ។ ផ្ញើសារ «ឈប់» មកលេខដែលផ្ញើសារ ដើម្បីឈប់ទទួល។ "
        "យើងមិនដែលសុំលេខកូដ ឬពាក្យសម្ងាត់ទេ។",
        "en": "Done: {number} will get {how}: {topics} for {place}.\n"
        "Privacy: we keep only the phone number, place, topics and language to send these "
        "messages, and share them with no one. Reply STOP by SMS at any time to stop. "
        "We never ask for a PIN, password or code.",
    },
    # answers to an SMS sent to the gateway's number (both languages: the sender's is unknown)
    "sms_stopped": {
        "km": "អ្នកនឹងលែងទទួលសារ និងការហៅពីយើងទៀតហើយ។",
        "en": "You will not receive any more messages or calls from us.",
    },
    "sms_help": {
        "km": "លេខនេះផ្ញើតែការជូនដំណឹងប៉ុណ្ណោះ។ ផ្ញើ «ឈប់» ដើម្បីឈប់ទទួល។ "
        "សម្រាប់សំណួរ សូមជជែកជាមួយជំនួយការ SP4ALL តាម Telegram, Messenger ឬគេហទំព័រ។",
        "en": "This number only sends announcements and alerts. Send STOP to stop them. "
        "For questions, chat with the SP4ALL Assistant on Telegram, Messenger or the web.",
    },
}
TOPIC_NAMES: dict[str, dict[str, str]] = {
    Topic.EMERGENCY: {"km": "ការព្រមានគ្រោះអាសន្ន", "en": "emergency alerts"},
    Topic.PAYMENTS: {"km": "កាលបរិច្ឆេទបើកប្រាក់", "en": "payment dates"},
    Topic.PROGRAMMES: {"km": "កម្មវិធីថ្មី ឬកែប្រែ", "en": "new or changed programmes"},
    Topic.HEALTH: {"km": "សុខភាព", "en": "health"},
}


def fold(text: str) -> str:
    """The form messages and word lists are compared in: normalised Khmer, no zero-width
    spaces, no spaces between Khmer words, lower case, single spaces, no end punctuation."""
    text = normalize(unicodedata.normalize("NFC", text)).translate(ZERO_WIDTH)
    text = _KHMER_GAP.sub("", text.strip())
    text = _END_PUNCT.sub("", text)
    return " ".join(text.split()).casefold()


def _fold_place(text: str) -> str:
    folded = fold(text).replace("-", " ")
    for unit in UNIT_WORDS:
        if folded.startswith(unit):
            folded = folded[len(unit) :]
    return folded.replace(" ", "")


def _t(key: str, language: str) -> str:
    return TEXTS[key]["km" if language == "km" else "en"]


@dataclass(frozen=True)
class Place:
    code: str
    km: str
    latin: str
    unit_km: str = ""  # ឃុំ, សង្កាត់, ស្រុក, ខេត្ត...
    unit_latin: str = ""  # Khum, Sangkat, Srok, Khaet...


class Places:
    """Provinces, districts and communes by name (Khmer or Latin), from the gazetteer copy
    in knowledge/gazetteer (whatever levels it holds)."""

    def __init__(self, places: list[Place], communes: list[Commune] | None = None) -> None:
        self.communes = communes or []  # those with coordinates, for a shared location
        self._by_code = {p.code: p for p in places}
        self._by_name: dict[str, list[Place]] = {}
        for place in places:
            for name in {_fold_place(place.km), _fold_place(place.latin)}:
                if name:
                    self._by_name.setdefault(name, []).append(place)

    @classmethod
    def load(cls, directory: Path, points: dict[str, tuple[float, float]] | None = None) -> Places:
        """Names from the gazetteer's YAML; positions from its ``geodata``, else ``points``
        (by default the commune points shipped with the alerts)."""
        known = commune_points() if points is None else points
        places: list[Place] = []
        communes: list[Commune] = []
        for level in ("provinces", "districts", "communes"):
            path = directory / f"{level}.yml"
            if not path.exists():
                continue
            data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
            for code, item in (data.get(level) or {}).items():
                name = item.get("name") or {}
                unit = item.get("administrative_unit") or {}
                places.append(
                    Place(
                        str(code),
                        str(name.get("km") or ""),
                        str(name.get("latin") or ""),
                        str(unit.get("km") or ""),
                        str(unit.get("latin") or ""),
                    )
                )
                geo = item.get("geodata") or {}
                point: tuple[float, float] | None = None
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    point = float(geo["lat"]), float(geo["long"])
                if point is None and level == "communes":
                    point = known.get(str(code))
                if point is not None:
                    lat, lon = point
                    communes.append(Commune(str(code), places[-1].km, places[-1].latin, lat, lon))
        return cls(places, communes)

    def find(self, text: str) -> list[Place]:
        """Places with this name, provinces first (a shorter code is a larger unit)."""
        found = self._by_name.get(_fold_place(text), [])
        return sorted(found, key=lambda p: (len(p.code), p.code))

    def get(self, code: str) -> Place | None:
        return self._by_code.get(code)

    def full_name(self, code: str, language: str) -> str:
        """A commune with its district and province, each with its unit word, as people
        say it: ``ឃុំ... ស្រុក... ខេត្ត...`` / ``Khum ..., Srok ..., Khaet ...``."""
        parts = []
        for prefix in dict.fromkeys((code, code[:4], code[:2])):
            place = self._by_code.get(prefix)
            if place is None:
                continue
            if language == "km":
                parts.append(f"{place.unit_km}{place.km}")
            else:
                parts.append(f"{place.unit_latin} {place.latin}".strip())
        return (" " if language == "km" else ", ").join(parts) or code

    def describe(self, code: str | None, language: str) -> str:
        if not code:
            return _t("whole_country", language)
        parts = []
        for prefix in (code, code[:4], code[:2]):
            place = self._by_code.get(prefix)
            if place is not None:
                name = place.km if language == "km" else place.latin
                if name and name not in parts:
                    parts.append(name)
        return ", ".join(parts) or code


@functools.lru_cache(maxsize=4)
def places_in(directory: Path) -> Places:
    """The gazetteer's places, loaded once per directory in a process (the chat and the
    console's phone page share them)."""
    return Places.load(directory)


class SubscriptionChat:
    """``intercept`` answers subscription messages (replies in Rasa's shape) or returns
    None to let the message go to Rasa."""

    def __init__(self, service: DisseminationService, places: Places) -> None:
        self._service = service
        self._places = places

    @staticmethod
    def _language(text: str, fallback: str | None) -> str:
        if _KHMER_CHAR.search(text):
            return "km"
        if fallback in ("km", "en"):
            return fallback
        return "en" if text.strip() and text.isascii() else "km"

    async def claims(
        self,
        channel: str,
        chat_id: str,
        text: str,
        *,
        button: bool,
        location: Mapping[str, Any] | None = None,
        number: bool = False,
    ) -> bool:
        """Whether ``intercept`` answers this message, decided before the chat is leased and
        without changing anything (two processes may read the same message; only the one
        that leases the chat acts on it). Restarting Messenger's 24-hour window is the one
        write: it only moves a timestamp forward."""
        if location is not None:
            sub = await self._service.subscriber(channel, chat_id)
            return sub is not None and sub.state == ASK_PLACE
        if number:
            if not _NUMBER_LIKE.match(text.strip()) or len(_DIGIT.findall(text)) < MIN_DIGITS:
                return False
            sub = await self._service.subscriber(channel, chat_id)
            return sub is not None and (sub.state or "").startswith(ASK_PHONE)
        if button and text.startswith(PREFIX):
            return True
        folded = fold(text)
        if not folded:
            return False
        if folded in STOP_WORDS or folded in SUBSCRIBE_WORDS or folded in LIST_WORDS:
            return True
        sub = await self._service.subscriber(channel, chat_id)
        if sub is None:
            return False
        if channel == "messenger":  # its 24-hour window starts again
            await self._service.seen(channel, chat_id)
        if button or not sub.state:
            return False
        return sub.state == ASK_PLACE or sub.state.startswith(ASK_PHONE)

    async def intercept(
        self,
        channel: str,
        chat_id: str,
        text: str,
        language: str | None,
        *,
        button: bool,
        location: Mapping[str, Any] | None = None,
        number: bool = False,
    ) -> list[dict[str, Any]] | None:
        """``location``: a shared location's meta; ``number``: only a phone number typed
        for the SMS or voice step (asked before the case desk, whose codes look alike)."""
        if location is not None:  # a shared location: the place, if one is asked for
            return await self._location(channel, chat_id, location)
        if number:
            return await self._number_first(channel, chat_id, text)
        folded = fold(text)
        if button and text.startswith(PREFIX):
            return await self._button(channel, chat_id, text[len(PREFIX) :], language or "km")
        if not folded:
            return None
        lang = self._language(text, language)
        if folded in STOP_WORDS:
            return await self._stop(channel, chat_id, lang)
        if folded in SUBSCRIBE_WORDS:
            return await self._ask_place(channel, chat_id, lang)
        if folded in LIST_WORDS:
            return await self._list(channel, chat_id, lang)
        sub = await self._service.subscriber(channel, chat_id)
        if sub is None:
            return None
        if sub.state == ASK_PLACE and not button:
            return await self._place_typed(sub, text, lang)
        if sub.state and sub.state.startswith(ASK_PHONE) and not button:
            return await self._phone_typed(sub, text)
        return None

    async def _location(
        self, channel: str, chat_id: str, location: Mapping[str, Any]
    ) -> list[dict[str, Any]] | None:
        """While the place is asked for, a shared location names its nearest commune (the
        channel found it in the gazetteer); otherwise it goes to Rasa as before."""
        sub = await self._service.subscriber(channel, chat_id)
        if sub is None or sub.state != ASK_PLACE:
            return None
        lang = sub.language
        point = location.get("location") or {}
        try:
            lat, lon = float(point["latitude"]), float(point["longitude"])
        except (KeyError, TypeError, ValueError):
            lat, lon = 0.0, 0.0
        code = str(location.get("place_code") or "")
        if not code and point:  # the channel did not look it up (Messenger): look it up here
            found = nearest_commune(lat, lon, self._places.communes)
            code = found[0].code if found else ""
        if code:
            topics = await self._place_chosen(channel, chat_id, code, lang)
            located = {
                "text": _t("located", lang).format(place=self._places.full_name(code, lang)),
                "buttons": [{"title": _t("change_place", lang), "payload": PREFIX + "start"}],
            }
            return [located, *topics]
        south, west, north, east = CAMBODIA_BOX
        inside = south <= lat <= north and west <= lon <= east
        return [
            {
                "text": _t("not_located" if inside else "outside", lang),
                "buttons": [{"title": _t("cancel", lang), "payload": PREFIX + "cancel"}],
            }
        ]

    async def _number_first(
        self, channel: str, chat_id: str, text: str
    ) -> list[dict[str, Any]] | None:
        if not _NUMBER_LIKE.match(text.strip()) or len(_DIGIT.findall(text)) < MIN_DIGITS:
            return None
        sub = await self._service.subscriber(channel, chat_id)
        if sub is None or not (sub.state or "").startswith(ASK_PHONE):
            return None
        return await self._phone_typed(sub, text)

    async def _phone_typed(self, sub: Subscriber, text: str) -> list[dict[str, Any]] | None:
        """The number for SMS or calls: saved as its own subscriber (channel sms or voice)
        with this chat's topics, place and language; shown back only masked."""
        lang = sub.language
        kind = (sub.state or "")[len(ASK_PHONE) :]
        if not _DIGIT.search(text):  # not a number at all: a question for Rasa
            await self._service.set_state(sub.channel, sub.chat_id, None, active=sub.active)
            return None
        number = cambodian_mobile(text)
        if number is None or kind not in PHONE_KINDS:
            return [
                {
                    "text": _t("bad_phone", lang),
                    "buttons": [{"title": _t("cancel", lang), "payload": PREFIX + "cancel"}],
                }
            ]
        topics = sub.topics or [Topic.EMERGENCY.value]
        await self._service.subscribe(
            kind, number, topics=topics, area_code=sub.area_code, language=lang
        )
        await self._service.set_state(sub.channel, sub.chat_id, None, active=sub.active)
        text = _t("phone_confirmed", lang).format(
            number=masked(number),
            how=_t(f"by_{kind}", lang),
            topics=", ".join(TOPIC_NAMES[Topic(t)][lang] for t in topics),
            place=self._places.describe(sub.area_code, lang),
        )
        return [{"text": text, "buttons": self._manage_buttons(lang)}]

    async def _stop(self, channel: str, chat_id: str, lang: str) -> list[dict[str, Any]]:
        if not await self._service.unsubscribe(channel, chat_id):
            return [{"text": _t("not_subscribed", lang)}]
        return [
            {
                "text": _t("stopped", lang),
                "buttons": [{"title": _t("subscribe", lang), "payload": PREFIX + "start"}],
            }
        ]

    async def _ask_place(self, channel: str, chat_id: str, lang: str) -> list[dict[str, Any]]:
        current = await self._service.subscriber(channel, chat_id)
        await self._service.set_state(
            channel,
            chat_id,
            ASK_PLACE,
            language=lang,
            active=bool(current and current.active),
        )
        return [
            {
                "text": _t("ask_place", lang),
                "buttons": [{"title": _t("cancel", lang), "payload": PREFIX + "cancel"}],
            }
        ]

    async def _place_typed(self, sub: Subscriber, text: str, lang: str) -> list[dict[str, Any]]:
        found = self._places.find(text)
        if not found:
            return [
                {
                    "text": _t("not_found", lang),
                    "buttons": [{"title": _t("cancel", lang), "payload": PREFIX + "cancel"}],
                }
            ]
        if len(found) == 1:
            return await self._place_chosen(sub.channel, sub.chat_id, found[0].code, lang)
        buttons = [
            {
                "title": self._places.describe(p.code, lang)[:60],
                "payload": f"{PREFIX}place:{p.code}",
            }
            for p in found[:MAX_CHOICES]
        ]
        return [{"text": _t("choose_place", lang), "buttons": buttons}]

    async def _place_chosen(
        self, channel: str, chat_id: str, code: str, lang: str
    ) -> list[dict[str, Any]]:
        current = await self._service.subscriber(channel, chat_id)
        topics = current.topics if current and current.active else [Topic.EMERGENCY.value]
        await self._service.set_state(
            channel, chat_id, ASK_TOPICS, area_code=code, language=lang, topics=topics
        )
        return self._topics_question(topics, lang)

    def _topics_question(self, chosen: list[str], lang: str) -> list[dict[str, Any]]:
        buttons = [
            {
                "title": ("✓ " if topic in chosen else "") + TOPIC_NAMES[topic][lang],
                "payload": f"{PREFIX}topic:{topic.value}",
            }
            for topic in Topic
        ]
        buttons.append({"title": _t("done", lang), "payload": PREFIX + "done"})
        return [{"text": _t("ask_topics", lang), "buttons": buttons}]

    async def _button(
        self, channel: str, chat_id: str, command: str, fallback: str
    ) -> list[dict[str, Any]]:
        sub = await self._service.subscriber(channel, chat_id)
        lang = sub.language if sub is not None else fallback
        verb, _, arg = command.partition(":")
        if verb == "start":
            return await self._ask_place(channel, chat_id, lang)
        if verb == "stop":
            return await self._stop(channel, chat_id, lang)
        if verb == "list":
            return await self._list(channel, chat_id, lang)
        if verb == "cancel":
            if sub is not None:
                await self._service.set_state(channel, chat_id, None, active=sub.active)
            if sub is not None and sub.active and (sub.state or "").startswith(ASK_PHONE):
                return [{"text": _t("phone_cancelled", lang)}]
            return [{"text": _t("cancelled", lang)}]
        if verb == "phone" and arg in PHONE_KINDS:
            if sub is None or not sub.active:
                return await self._list(channel, chat_id, lang)
            await self._service.set_state(channel, chat_id, ASK_PHONE + arg, active=True)
            return [
                {
                    "text": _t(f"ask_phone_{arg}", lang),
                    "buttons": [{"title": _t("cancel", lang), "payload": PREFIX + "cancel"}],
                }
            ]
        if verb == "place" and arg:
            return await self._place_chosen(channel, chat_id, arg, lang)
        if verb == "topics":  # change topics: the question again, with what is chosen
            chosen = sub.topics if sub else [Topic.EMERGENCY.value]
            await self._service.set_state(
                channel, chat_id, ASK_TOPICS, active=bool(sub and sub.active)
            )
            return self._topics_question(chosen, lang)
        if verb == "topic" and arg in set(Topic) and sub is not None:
            toggled = sorted(set(sub.topics) ^ {arg})
            await self._service.set_state(
                channel, chat_id, ASK_TOPICS, topics=toggled, active=sub.active
            )
            return self._topics_question(toggled, lang)
        if verb == "done" and sub is not None:
            topics = sub.topics or [Topic.EMERGENCY.value]
            await self._service.subscribe(
                channel, chat_id, topics=topics, area_code=sub.area_code, language=lang
            )
            names = ", ".join(TOPIC_NAMES[Topic(t)][lang] for t in topics)
            text = _t("confirmed", lang).format(
                topics=names, place=self._places.describe(sub.area_code, lang)
            )
            return [{"text": text, "buttons": self._manage_buttons(lang)}]
        return [{"text": _t("cancelled", lang)}]

    @staticmethod
    def _manage_buttons(lang: str) -> list[dict[str, str]]:
        return [
            {"title": _t("change_place", lang), "payload": PREFIX + "start"},
            {"title": _t("change_topics", lang), "payload": PREFIX + "topics"},
            {"title": _t("stop", lang), "payload": PREFIX + "stop"},
            {"title": _t("also_sms", lang), "payload": PREFIX + "phone:sms"},
            {"title": _t("also_voice", lang), "payload": PREFIX + "phone:voice"},
        ]

    async def _list(self, channel: str, chat_id: str, lang: str) -> list[dict[str, Any]]:
        sub = await self._service.subscriber(channel, chat_id)
        if sub is None or not sub.active:
            return [
                {
                    "text": _t("not_subscribed", lang),
                    "buttons": [{"title": _t("subscribe", lang), "payload": PREFIX + "start"}],
                }
            ]
        names = ", ".join(TOPIC_NAMES[Topic(t)][sub.language] for t in sub.topics)
        text = TEXTS["listing"][sub.language].format(
            topics=names, place=self._places.describe(sub.area_code, sub.language)
        )
        return [{"text": text, "buttons": self._manage_buttons(sub.language)}]
