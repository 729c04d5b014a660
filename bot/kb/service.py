"""One entry point for answering policy questions, loaded once per process."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import List

from bot.kb.answer import AnswerComposer, Reply
from bot.kb.loader import KnowledgeBase, load_kb
from bot.kb.resolve import Question, Resolution, Resolver
from bot.kb.search import KBSearch
from bot.text.normalize import Spellings

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


def kb_path() -> Path:
    """``KB_PATH`` from the environment, else ``policies_kb/`` of the repository."""
    return Path(os.environ.get("KB_PATH") or ROOT / "policies_kb")


class PolicyService:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.search = KBSearch(kb)
        self.resolver = Resolver(self.search)
        self.composer = AnswerComposer(kb, self.search)
        # The normaliser's rewrites come from the knowledge base, read at run time.
        self.spellings = Spellings(kb.vocabulary.spellings)

    def has_topic(self, text: str) -> bool:
        """Whether a normalised message says what it is about (not only a city or an aspect)."""
        return bool(self.search.topic_terms(text))

    def resolve(self, question: Question) -> Resolution:
        return self.resolver.resolve(question)

    def answer(self, question: Question) -> tuple[Resolution, List[Reply]]:
        resolution = self.resolve(question)
        return resolution, self.composer.compose(resolution)


@functools.lru_cache(maxsize=4)
def _service_for(path: str) -> PolicyService:
    kb = load_kb(path)
    logger.info("知识库已加载：%d 条（%s）", len(kb), path)
    return PolicyService(kb)


def get_policy_service() -> PolicyService:
    """The process-wide service for the configured knowledge base."""
    return _service_at(os.environ.get("KB_PATH") or "")


@functools.lru_cache(maxsize=4)
def _service_at(configured: str) -> PolicyService:
    # Keyed by the variable's text: resolving the path at every question costs more than
    # the rest of looking the service up.
    return _service_for(str(kb_path()))
