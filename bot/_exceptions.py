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
  + Refused               a console, CLI or feature operation was refused; the console
                          maps the four kinds to HTTP statuses in one place
    - NotFound            no such conversation/organisation/agent, or not visible (-> 404)
    - NotAllowed          the user's role does not allow it (-> 403)
    - Conflict            not possible in the current state, e.g. already claimed (-> 409)
    - Invalid             console or CLI input that breaks a rule: an unknown area code,
                          malformed office hours, an unknown role (-> 400)
  HandoffError            the former name of Refused (an alias: callers keep working)
  + TrainingError         the review and retraining tool (bot.training) refused or failed
    - TrainingForbidden   the person is not an admin (also a NotAllowed -> 403)
    - InvalidAnnotation   a label, an intent name or a new intent's answers are not
                          acceptable (also an Invalid -> 400)
    - TrainingBusy        a training job is already queued or running (a Conflict -> 409)
    - TrainingFailed      validation, training or evaluation failed (a Conflict -> 409)
    - ActivationFailed    a Rasa instance did not load the model (a Conflict -> 409)
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
    "Refused",
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


class Refused(GatewayError):
    """An operation the gateway refuses; the message is safe to show to the person.

    The message is English; ``km=`` gives the same in Khmer, which the console shows to a
    person whose console is in Khmer (``words(language)``)."""

    def __init__(self, *args: object, km: str | None = None) -> None:
        super().__init__(*args)
        self.km = km

    def words(self, language: str) -> str:
        """The refusal in ``language`` (English when there are no Khmer words)."""
        return self.km if language == "km" and self.km else str(self)


HandoffError = Refused  # its first name: handoff and console code still catch it


class NotFound(Refused):
    """Absent, or not visible to this user (the same answer, so ids leak nothing)."""


class NotAllowed(Refused):
    """The user's role does not allow this operation."""


class Conflict(Refused):
    """The operation does not fit the current state (already claimed, closed, empty text)."""


class Invalid(Refused):
    """Administrative input that breaks a rule; the message says which, for the admin."""


class TrainingError(GatewayError):
    """Base of the retraining tool's errors; the message is shown to the admin as is."""


class TrainingForbidden(TrainingError, NotAllowed):
    """Only admins may review, annotate, train, activate or roll back."""


class InvalidAnnotation(TrainingError, Invalid):
    """An annotation or a new intent that would make the training data wrong or incomplete."""


class TrainingBusy(TrainingError, Conflict):
    """One training job at a time: two would fight over the same files and both cores."""


class TrainingFailed(TrainingError, Conflict):
    """A stage of a training job failed (validator, rasa train, evaluation)."""


class ActivationFailed(TrainingError, Conflict):
    """A Rasa instance refused or failed to load a model; the live model stays."""
