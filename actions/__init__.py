"""SP4ALL Assistant custom actions for the rasa-sdk action server.

`rasa run actions --actions actions` imports this package and registers every concrete
Action subclass it finds. Importing it also loads and checks the knowledge base, so a broken
knowledge file stops the server at start-up with a message naming the file and the entry,
instead of failing in the middle of a conversation.
"""

from actions.actions import (
    ActionAnswerTopic,
    ActionClarify,
    ActionEligibilityResult,
    ActionHandoff,
    ActionLocateOffice,
    ActionMoneyWarning,
    ActionStartEligibility,
    ActionStartOver,
    ActionSwitchLanguage,
    ActionWhereToEnrol,
)
from actions.compose import get_resources, use_knowledge
from actions.form import (
    ActionAskDisability,
    ActionAskElderly,
    ActionAskEquityLevel,
    ActionAskHasEquityCard,
    ActionAskHiv,
    ActionAskPregnantOrInfant,
    ActionAskSchoolChildren,
    ActionAskSchoolLevel,
    ActionAskWorkStatus,
    ValidateEligibilityForm,
)
from actions.language import ActionDetectLanguage
from actions.learned import ActionAnswerLearned, get_learned_answers
from actions.live import start_from_env

get_resources()
get_learned_answers()
# SP4ALL_KNOWLEDGE_URL set: answer from the live revision the secretariat published (polled)
KNOWLEDGE_POLLER = start_from_env(use_knowledge)

__all__ = [
    "ActionAnswerLearned",
    "ActionAnswerTopic",
    "ActionAskDisability",
    "ActionAskElderly",
    "ActionAskEquityLevel",
    "ActionAskHasEquityCard",
    "ActionAskHiv",
    "ActionAskPregnantOrInfant",
    "ActionAskSchoolChildren",
    "ActionAskSchoolLevel",
    "ActionAskWorkStatus",
    "ActionClarify",
    "ActionDetectLanguage",
    "ActionEligibilityResult",
    "ActionHandoff",
    "ActionLocateOffice",
    "ActionMoneyWarning",
    "ActionStartEligibility",
    "ActionStartOver",
    "ActionSwitchLanguage",
    "ActionWhereToEnrol",
    "ValidateEligibilityForm",
]
