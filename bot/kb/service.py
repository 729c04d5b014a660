"""One entry point for answering policy questions, loaded once per process."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import List, Optional

from bot.kb.answer import AnswerComposer, Reply
from bot.kb.loader import KnowledgeBase, load_kb
from bot.kb.resolve import (
    DOUBTFUL_COVERAGE,
    MIN_DETAIL_IDF,
    MIN_SCORE,
    Question,
    Resolution,
    Resolver,
)
from bot.kb.search import KBSearch, domain_words
from bot.text.normalize import Spellings, normalize_text
from bot.text.sounds import SoundIndex

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
# A follow-up continues the policy answered when that entry is among this many best matches.
CONTINUE_RANK = 3
# Evidence that a message is about the knowledge base (bot.nlu.scope, the status lookup).
NAME_CHARS = 3
MIN_CONCEPTS = 2


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
        vocab = kb.vocabulary
        sounds = SoundIndex(
            [*domain_words(kb), *vocab.spellings.values()], is_word=self.search.segmenter.is_word
        )
        self.spellings = Spellings(vocab.spellings, sounds)
        self._names = {normalize_text(name) for entry in kb for name in entry.names}

    def has_topic(self, text: str) -> bool:
        """Whether a normalised message says what it is about (not only a city or an aspect)."""
        return bool(self.search.topic_terms(text))

    def evidence(self, text: str, named: Optional[bool] = None) -> Optional[str]:
        """Why a normalised message is about the knowledge base ("name", "retrieval"), or None.

        ``named``: whether a programme's name of at least NAME_CHARS characters is in it (as
        the entity linker found; looked up here when not given). A shorter name ("绿卡" in
        "美国绿卡抽签") is as ambiguous as any word. Retrieval is evidence when its best entry
        covers half of the question and offers at least two of its concepts: one shared word
        ("最快" in "怎么减肥最快", "结果" in "美国大选结果出来了吗") is not a topic.
        """
        if named is None:
            named = any(len(name) >= NAME_CHARS and name in text for name in self._names)
        if named:
            return "name"
        terms = self.search.topic_terms(text)
        hits = self.search.rank(terms, limit=1)
        if not hits or hits[0].score < MIN_SCORE:
            return None
        best = hits[0].entry
        if self.search.best_coverage(best, text, terms) < DOUBTFUL_COVERAGE:
            return None
        return (
            "retrieval" if len(self.search.offered_concepts(best, terms)) >= MIN_CONCEPTS else None
        )

    def continues(self, policy_id: Optional[str], text: str) -> bool:
        """Whether a message the classifier found out of scope goes on about the policy just
        answered ("半导体那块效果咋样" after 靶向引才): it shares an informative word with that
        entry, which ranks among the first for the message."""
        entry = self.kb.get(policy_id)
        if entry is None or not text:
            return False
        terms = self.search.topic_terms(text)
        shared = [
            t
            for t in self.search.offered_concepts(entry, terms)
            if self.search.idf(t) >= MIN_DETAIL_IDF
        ]
        ranked = [h.entry.id for h in self.search.rank(terms, limit=CONTINUE_RANK)]
        return bool(shared) and entry.id in ranked

    def follows_up(self, policy_id: Optional[str], text: str) -> bool:
        """Whether a message the classifier could not place asks about the policy just
        answered: it goes on about it (``continues``) or asks one of its aspects ("那补贴的钱
        谁出", "怎么申请的")."""
        if self.kb.get(policy_id) is None or not text:
            return False
        return self.continues(policy_id, text) or bool(self.resolver.reader.read(text).aspects)

    def resolve(self, question: Question) -> Resolution:
        return self.resolver.resolve(question)

    def answer(self, question: Question) -> tuple[Resolution, List[Reply]]:
        """The replies to a question, one answer per programme it asks about; the resolution
        returned is the last one (the conversation continues with it)."""
        resolutions = self.resolver.resolve_parts(question)
        replies = [reply for res in resolutions for reply in self.composer.compose(res)]
        return resolutions[-1], replies


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
