"""The harmonized knowledge base (issue #14): ministries keep their programmes' facts, the
secretariat reviews and publishes, every channel reads the one live revision.

Public surface::

    from bot.knowledge import KNOWLEDGE_FEATURE, add_knowledge_api   # create_app
    from bot.knowledge import KnowledgeService, KNOWLEDGE             # the workflow

The catalogue is an HSDS 3.0 profile document (``kbprofile``); the console feature lives at
/console/knowledge, the public read-only API at /api/knowledge/v1/catalogue and /schema, the
command line is ``python -m bot knowledge import|export|validate``.
"""

from __future__ import annotations

from ._models import ChangeStatus, CommentKind, KbChange, KbComment, KbLock, KbRevision
from ._service import Actor, FactChange, KnowledgeService, Live, SourceInput, diff, is_official
from ._web import CATALOGUE_PATH, KNOWLEDGE, KNOWLEDGE_FEATURE, SCHEMA_PATH, add_knowledge_api

__all__ = [
    "CATALOGUE_PATH",
    "KNOWLEDGE",
    "KNOWLEDGE_FEATURE",
    "SCHEMA_PATH",
    "Actor",
    "ChangeStatus",
    "CommentKind",
    "FactChange",
    "KbChange",
    "KbComment",
    "KbLock",
    "KbRevision",
    "KnowledgeService",
    "Live",
    "SourceInput",
    "add_knowledge_api",
    "diff",
    "is_official",
]
