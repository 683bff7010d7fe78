"""The delivery engine (``_engine``) and the pacing of each channel account (``_pacer``)."""

from __future__ import annotations

from .._settings import Settings
from ._engine import DeliveryEngine
from ._pacer import Grant, LocalPacer, PaceLimit, Pacer, RedisPacer, acquire

__all__ = [
    "DeliveryEngine",
    "Grant",
    "LocalPacer",
    "PaceLimit",
    "Pacer",
    "RedisPacer",
    "acquire",
    "make_pacer",
    "pace_limits",
]


def pace_limits(settings: Settings) -> dict[str, PaceLimit]:
    """Per channel account: Telegram, Messenger, SMS and voice from the settings; the web
    chat has no platform in between, so no limit."""
    headroom = settings.delivery_reply_headroom_per_s
    return {
        "telegram": PaceLimit(settings.delivery_telegram_per_s, headroom),
        "messenger": PaceLimit(settings.delivery_messenger_per_s, headroom),
        # Somleng (bot/channels/_somleng.py): no replies on these lines, so no headroom
        "sms": PaceLimit(settings.delivery_sms_per_s),
        "voice": PaceLimit(settings.delivery_voice_per_s),
    }


def make_pacer(settings: Settings) -> Pacer:
    """Shared through Redis when ``GATEWAY_REDIS_URL`` is set (several processes), else
    in this process (the embedded profile)."""
    if settings.redis_url:
        return RedisPacer.from_url(
            settings.redis_url, pace_limits(settings), prefix=f"{settings.redis_prefix}pace:"
        )
    return LocalPacer(pace_limits(settings))
