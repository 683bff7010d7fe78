"""The broadcasts feature's phone subscribers page (/console/broadcasts/subscribers): a CSO
registers a person for SMS or voice calls -- number, channel, topics, place (gazetteer code
or name), language -- only with the person's consent (a required checkbox); the list shows
numbers masked (last three digits), and any of them can be stopped.

Who registered a number is not stored (gw_subscribers has no column for it, and no personal
data is added); the number never goes to a log. An organisation with areas lists, registers
and stops only people in them; the secretariat and organisations without areas, anyone."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy import select

from .. import keys
from .._exceptions import Invalid, NotAllowed
from ..accounts import Role
from ..console import (
    FeatureRoutes,
    done,
    fields,
    path_id,
    render,
    state,
    ui_language,
    viewer,
)
from ..storage._db import Organisation
from . import DISSEMINATION
from ._chat import TOPIC_NAMES, Places, places_in
from ._numbers import cambodian_mobile, masked
from ._phone import PHONE_CHANNELS
from ._service import DisseminationService
from ._tables import Topic

__all__ = ["PHONE_LABELS", "add_phone_pages"]

log = logging.getLogger("bot.dissemination.phone")

PHONE_LABELS: dict[str, dict[str, str]] = {
    "subscribers": {"en": "Phone subscribers", "km": "អ្នកជាវតាមទូរសព្ទ"},
    "register": {"en": "Register a phone subscriber", "km": "ចុះឈ្មោះអ្នកជាវតាមទូរសព្ទ"},
    "number": {"en": "Phone number", "km": "លេខទូរសព្ទ"},
    "channel": {"en": "By", "km": "តាម"},
    "sms": {"en": "SMS", "km": "សារ SMS"},
    "voice": {"en": "Voice call", "km": "ការហៅទូរសព្ទ"},
    "topics": {"en": "Topics", "km": "ប្រធានបទ"},
    "place": {
        "en": "Place: gazetteer code or name (empty: whole country)",
        "km": "ទីកន្លែង៖ លេខកូដ ឬឈ្មោះ (ទទេ៖ ទូទាំងប្រទេស)",
    },
    "place_column": {"en": "Place", "km": "ទីកន្លែង"},
    "language": {"en": "Language", "km": "ភាសា"},
    "km": {"en": "Khmer", "km": "ខ្មែរ"},
    "en": {"en": "English", "km": "អង់គ្លេស"},
    "consent": {
        "en": "The person agreed to receive these messages",
        "km": "បុគ្គលនេះបានយល់ព្រមទទួលសារទាំងនេះ",
    },
    "privacy": {
        "en": "Tell the person: we keep only the number, place, topics and language, share "
        "them with no one, and they can reply STOP (ឈប់) by SMS at any time.",
        "km": "សូមប្រាប់បុគ្គលនោះ៖ យើងរក្សាទុកតែលេខ ទីកន្លែង ប្រធានបទ និងភាសា មិនចែករំលែកជាមួយអ្នកដទៃ "
        "ហើយគាត់អាចផ្ញើសារ «ឈប់» នៅពេលណាក៏បាន។",
    },
    "save": {"en": "Register", "km": "ចុះឈ្មោះ"},
    "active": {"en": "Active", "km": "សកម្ម"},
    "stopped": {"en": "stopped", "km": "បានឈប់"},
    "stop": {"en": "Stop", "km": "ឈប់"},
    "back": {"en": "Broadcasts", "km": "ការផ្សព្វផ្សាយ"},
}


def _service(request: web.Request) -> DisseminationService:
    return request.config_dict[DISSEMINATION]


def _gazetteer(request: web.Request) -> Places:
    return places_in(request.config_dict[keys.SETTINGS].gazetteer_path.parent)


def _tr(lang: str) -> Any:
    def tr(key: str) -> str:
        return PHONE_LABELS.get(key, {}).get(lang, key)

    return tr


def _url(request: web.Request, name: str, **parts: str | int) -> str:
    return state(request).registry.url(f"broadcasts:{name}", **parts)


def _place_code(places: Places, text: str) -> str | None:
    """A gazetteer code, or the one unit with this name; Invalid (400) otherwise."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        if places.get(text) is None:
            raise Invalid(
                "no such place code in the gazetteer", km="គ្មានលេខកូដទីកន្លែងនេះក្នុងបញ្ជីភូមិសាស្ត្រទេ"
            )
        return text
    found = places.find(text)
    if not found:
        raise Invalid(
            "no place with this name in the gazetteer", km="គ្មានទីកន្លែងឈ្មោះនេះក្នុងបញ្ជីភូមិសាស្ត្រទេ"
        )
    if len(found) > 1:
        choices_en = "; ".join(f"{p.latin} {p.unit_latin} {p.code}".strip() for p in found[:6])
        choices_km = "; ".join(f"{p.unit_km}{p.km} {p.code}" for p in found[:6])
        raise Invalid(
            f"several places have this name: give the code of the one you mean ({choices_en})",
            km=f"មានទីកន្លែងច្រើនដែលមានឈ្មោះនេះ៖ សូមដាក់លេខកូដនៃកន្លែងដែលអ្នកចង់បាន ({choices_km})",
        )
    return found[0].code


NATIONAL_ROLES = frozenset({Role.SECRETARIAT_REVIEWER, Role.ADMIN})


async def _coverage(request: web.Request) -> tuple[str, ...]:
    """The gazetteer units this person's organisation covers; () for the whole country
    (the secretariat, administrators, and organisations without areas)."""
    who = viewer(request)
    if who.role in NATIONAL_ROLES:
        return ()
    async with request.config_dict[keys.STORE].reading() as session:
        areas = await session.scalar(
            select(Organisation.areas).where(Organisation.id == who.organisation_id)
        )
    return tuple(str(a) for a in areas or ())


def _covered(area_code: str | None, coverage: tuple[str, ...]) -> bool:
    return not coverage or any((area_code or "").startswith(a) for a in coverage)


async def subscribers_page(request: web.Request) -> web.Response:
    lang = ui_language(request)
    places = _gazetteer(request)
    rows = [
        {
            "id": sub.id,
            "number": masked(sub.chat_id),
            "channel": sub.channel,
            "topics": ", ".join(TOPIC_NAMES[Topic(t)][lang] for t in sub.topics),
            "place": places.describe(sub.area_code, lang),
            "language": sub.language,
            "active": sub.active,
            "stop_url": _url(request, "phone_stop", id=sub.id),
        }
        for sub in await _service(request).phone_subscribers(areas=await _coverage(request))
    ]
    return render(
        request,
        "dissemination/subscribers.html",
        title=_tr(lang)("subscribers"),
        tr=_tr(lang),
        rows=rows,
        topics=[(t.value, TOPIC_NAMES[t][lang]) for t in Topic],
        channels=PHONE_CHANNELS,
        register_url=_url(request, "phone_register"),
        back_url=_url(request, "list"),
        page="phones",
    )


async def register(request: web.Request) -> web.StreamResponse:
    form = await fields(request)

    def one(name: str) -> str:
        return (form.get(name) or [""])[-1].strip()

    if one("consent") not in ("1", "on", "yes", "true"):
        raise Invalid("the person's consent is required", km="ត្រូវការការយល់ព្រមពីម្ចាស់លេខ")
    number = cambodian_mobile(one("number"))
    if number is None:
        raise Invalid("not a Cambodian mobile number", km="មិនមែនជាលេខទូរសព្ទចល័តនៅកម្ពុជាទេ")
    channel = one("channel")
    if channel not in PHONE_CHANNELS:
        raise Invalid("channel must be sms or voice", km="ត្រូវជ្រើសរើស SMS ឬការហៅទូរសព្ទ")
    chosen = {t for value in form.get("topics", []) for t in value.replace(",", " ").split()}
    if not chosen <= set(Topic):
        raise Invalid("unknown topic", km="ប្រធានបទមិនស្គាល់")
    language = one("language") or "km"
    if language not in ("km", "en"):
        raise Invalid("language must be km or en", km="ភាសាត្រូវជាខ្មែរ ឬអង់គ្លេស")
    area_code = _place_code(_gazetteer(request), one("place"))
    coverage = await _coverage(request)
    if not _covered(area_code, coverage):
        raise NotAllowed(
            "your organisation registers people only in its own areas",
            km="អង្គការរបស់អ្នកអាចចុះឈ្មោះបានតែអ្នកនៅក្នុងតំបន់របស់ខ្លួនប៉ុណ្ណោះ",
        )
    sub = await _service(request).subscribe(
        channel,
        number,
        topics=sorted(chosen) or [Topic.EMERGENCY.value],
        area_code=area_code,
        language=language,
    )
    log.info("dissemination.phone_registered", extra={"channel": channel})
    return done(
        request,
        _url(request, "phone_subscribers"),
        {"id": sub.id, "channel": channel, "number": masked(number), "area_code": area_code},
    )


async def stop(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    sub = await service.subscriber_by_id(path_id(request, "subscriber"))
    if sub is None or sub.channel not in PHONE_CHANNELS:
        raise web.HTTPNotFound()
    if not _covered(sub.area_code, await _coverage(request)):
        raise NotAllowed(
            "this person is outside your organisation's areas",
            km="បុគ្គលនេះនៅក្រៅតំបន់របស់អង្គការអ្នក",
        )
    await service.unsubscribe(sub.channel, sub.chat_id)
    log.info("dissemination.phone_stopped", extra={"channel": sub.channel})
    return done(request, _url(request, "phone_subscribers"), {"id": sub.id, "active": False})


def add_phone_pages(routes: FeatureRoutes) -> None:
    """Before the feature's ``/{id}`` route, which would take ``/subscribers`` for an id."""
    routes.get("/subscribers", subscribers_page, name="phone_subscribers")
    routes.post("/subscribers", register, name="phone_register")
    routes.post("/subscribers/{id}/stop", stop, name="phone_stop")
