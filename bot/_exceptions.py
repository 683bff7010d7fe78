"""The gateway's one exception hierarchy.

* GatewayError            anything the gateway raises on purpose
  + SettingsError         the environment does not describe a usable gateway
  + BadInbound            a platform or browser sent something we will not accept (-> 4xx)
    - UnsupportedUpdate   well-formed, but of a kind the gateway does not handle
  + RasaUnavailable       Rasa could not be reached, timed out or failed (-> retry later)
  + ChannelError          a platform refused or failed a send
    - RateLimited         the platform asked us to wait ``retry_after`` seconds
    - RecipientBlocked    the user blocked the bot / cannot be reached (-> chat inactive)
    - Undeliverable       a send retrying cannot fix: no such chat, a request the platform
                          refuses as malformed (-> the message fails at once, with the reason)
  + HandoffError          a console or handoff operation was refused
    - NotFound            no such conversation/organisation/agent, or not visible (-> 404)
    - NotAllowed          the user's role does not allow it (-> 403)
    - Conflict            not possible in the current state, e.g. already claimed (-> 409)
    - Invalid             console or CLI input that breaks a rule: an unknown area code,
                          malformed office hours, an unknown role (-> 400)
  + TrainingError         the review and retraining tool (bot.training) refused or failed
    - TrainingForbidden   the person is not an admin (-> 403)
    - InvalidAnnotation   a label, an intent name or a new intent's answers are not acceptable
    - TrainingBusy        a training job is already queued or running (one at a time)
    - TrainingFailed      validation, training or evaluation failed; the message says why
    - ActivationFailed    a Rasa instance did not load the model (the previous one stays)
"""

from __future__ import annotations

__all__ = [
    "ActivationFailed",
    "BadInbound",
    "ChannelError",
    "Conflict",
    "GatewayError",
    "HandoffError",
    "Invalid",
    "InvalidAnnotation",
    "NotAllowed",
    "NotFound",
    "RasaUnavailable",
    "RateLimited",
    "RecipientBlocked",
    "SettingsError",
    "TrainingBusy",
    "TrainingError",
    "TrainingFailed",
    "TrainingForbidden",
    "Undeliverable",
    "UnsupportedUpdate",
]


class GatewayError(Exception):
    """Base class: callers can catch every deliberate gateway failure at once."""


class SettingsError(GatewayError):
    """A setting is missing or malformed; raised at start-up, never mid-conversation."""


class BadInbound(GatewayError):
    """Inbound data we refuse; the web layer maps it to a 4xx, never a 5xx."""


class UnsupportedUpdate(BadInbound):
    """A well-formed update of a type the gateway does not handle."""


class RasaUnavailable(GatewayError):
    """Rasa is down, slow or broken: the message stays queued and is retried."""


class ChannelError(GatewayError):
    """A platform (Telegram, Messenger) refused or failed a send."""


class RateLimited(ChannelError):
    """The platform asked us to wait before the next send (Telegram 429, Graph 613)."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retry after {retry_after}s")
        self.retry_after = retry_after


class RecipientBlocked(ChannelError):
    """The user blocked the bot (Telegram 403) or is unreachable: mark the chat inactive."""


class Undeliverable(ChannelError):
    """The platform can never accept this send (Telegram 400 "chat not found", a Graph 400
    that is not a rate limit, a chat id that is not one): retrying would loop forever."""


class HandoffError(GatewayError):
    """A handoff or console operation the gateway refuses; the message is safe to show."""


class NotFound(HandoffError):
    """Absent, or not visible to this user (the same answer, so ids leak nothing)."""


class NotAllowed(HandoffError):
    """The user's role does not allow this operation."""


class Conflict(HandoffError):
    """The operation does not fit the current state (already claimed, closed, empty text)."""


class Invalid(HandoffError):
    """Administrative input that breaks a rule; the message says which, for the admin."""


class TrainingError(GatewayError):
    """Base of the retraining tool's errors; the message is shown to the admin as is."""


class TrainingForbidden(TrainingError):
    """Only admins may review, annotate, train, activate or roll back."""


class InvalidAnnotation(TrainingError):
    """An annotation or a new intent that would make the training data wrong or incomplete."""


class TrainingBusy(TrainingError):
    """One training job at a time: two would fight over the same files and both cores."""


class TrainingFailed(TrainingError):
    """A stage of a training job failed (validator, rasa train, evaluation)."""


class ActivationFailed(TrainingError):
    """A Rasa instance refused or failed to load a model; the live model stays."""
