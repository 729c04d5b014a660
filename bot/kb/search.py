"""Ranked retrieval over the knowledge base (BM25 on jieba words, via ``bm25s``).

Two levels: which entry answers a question, and, inside one entry, which of its sentences
answer a detail ("要抵押吗").
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import bm25s

from bot.kb.loader import KnowledgeBase
from bot.kb.models import PolicyEntry
from bot.text.clauses import clauses
from bot.text.normalize import normalize_text
from bot.text.tokenize import BIGRAM_MARK, Segmenter

logger = logging.getLogger(__name__)

# How much each part of an entry counts: names matter most, then the summary.
FIELD_WEIGHTS = (("title", 3), ("aliases", 3), ("summary", 2), ("audience", 1))
BODY_FIELDS = (
    "amounts",
    "conditions",
    "materials",
    "process",
    "contact",
    "basis",
    "notes",
    "background",
)
# Fields that count half when quoting: who-it-is-for shares generic words ("人才", "工作") with
# most questions, and background (the city's results) is quoted only when clearly asked for.
HALF_WEIGHT_FIELDS = ("audience", "background")
CROSS_REFERENCE = "另见"
# A note that says what the sources leave open ("来源论文没有写明…") is honest, not an answer:
# it counts half too, so that it leads only when nothing else matches.
GAP_MARKERS = (
    "没有写明",
    "没有列出",
    "未写明",
    "没有说明",
    "未列明",
    "没有给出",
    "未给出",
    "没有提供",
)


# A clause (or two adjacent ones) counts for coverage once it has this many words.
MIN_CLAUSE_WORDS = 2
WINDOW_CACHE = 256


def is_gap(fact: str) -> bool:
    """A note on what the sources leave open: honest, but no fact to answer with."""
    return any(marker in fact for marker in GAP_MARKERS)


@dataclass(frozen=True)
class Hit:
    entry: PolicyEntry
    score: float


def domain_words(kb: KnowledgeBase) -> List[str]:
    """Words jieba must keep whole: entry names, city names, aspect phrases."""
    words: List[str] = []
    for entry in kb:
        words.extend(normalize_text(name) for name in entry.names)
    vocab = kb.vocabulary
    for region in vocab.regions:
        words.extend(region.aliases)
    words.extend(vocab.other_places)
    for triggers in vocab.aspect_triggers.values():
        words.extend(triggers)
    return sorted({w for w in words if len(w) >= 2})


def entry_sentences(entry: PolicyEntry) -> List[Tuple[str, str]]:
    """(field, sentence) pairs a detail answer can quote."""
    pairs = [("summary", entry.summary), ("audience", f"适用对象：{entry.audience}")]
    for name in BODY_FIELDS:
        pairs.extend((name, item) for item in getattr(entry, name))
    return pairs


class KBSearch:
    """BM25 over entries, plus sentence ranking within an entry."""

    def __init__(self, kb: KnowledgeBase, segmenter: Optional[Segmenter] = None) -> None:
        self.kb = kb
        vocab = kb.vocabulary
        # Everyday words are kept whole too, so that they can be mapped ("有着落" -> "就业").
        self.segmenter = segmenter or Segmenter(
            [*domain_words(kb), *vocab.synonyms], stopwords=vocab.stopwords
        )
        self._entries: List[PolicyEntry] = list(kb)
        corpus = [self._document_terms(e) for e in self._entries]
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)
        self._idf = self._inverse_document_frequency(corpus)
        self._max_idf = max(self._idf.values(), default=1.0)
        self._entry_terms = {e.id: set(doc) for e, doc in zip(self._entries, corpus)}
        # What an entry offers a citizen, without its background (the city's results): the
        # words that make a message a question about the entry.
        self._offer_terms = {
            e.id: set(self._document_terms(e, with_background=False)) for e in self._entries
        }
        self._window_cache: Dict[str, Tuple[Tuple[str, ...], ...]] = {}
        # An everyday word the entries never use stands for the entries' word; one they also
        # use is kept and the entries' word added.
        self._synonyms = dict(vocab.synonyms)
        # Region and aspect words say *how* to answer, not *what*: they never rank entries.
        self.non_topic_words: Set[str] = set()
        for region in vocab.regions:
            self.non_topic_words.update(region.aliases)
        self.aspect_words: Set[str] = set()
        for triggers in vocab.aspect_triggers.values():
            self.aspect_words.update(triggers)
        self.non_topic_words |= self.aspect_words
        self._sentences: Dict[str, List[Tuple[str, str, Set[str]]]] = {
            e.id: [
                (f, s, set(self.segmenter.terms(normalize_text(s)))) for f, s in entry_sentences(e)
            ]
            for e in self._entries
        }

    def _document_terms(self, entry: PolicyEntry, with_background: bool = True) -> List[str]:
        terms: List[str] = []
        for name, weight in FIELD_WEIGHTS:
            value = getattr(entry, name)
            texts = value if isinstance(value, tuple) else (value,)
            for text in texts:
                terms.extend(self.segmenter.terms(normalize_text(text)) * weight)
        for name in BODY_FIELDS:
            if name == "background" and not with_background:
                continue
            for text in getattr(entry, name):
                terms.extend(self.segmenter.terms(normalize_text(text)))
        return terms or ["_"]

    @staticmethod
    def _inverse_document_frequency(corpus: Sequence[Sequence[str]]) -> Dict[str, float]:
        df: Dict[str, int] = {}
        for doc in corpus:
            for term in set(doc):
                df[term] = df.get(term, 0) + 1
        n = len(corpus)
        return {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def topic_terms(
        self, text: str, drop: Iterable[str] = (), keep: Iterable[str] = ()
    ) -> List[str]:
        """The words of a normalised question that say what it is about, everyday words
        mapped to the words the entries use (``keep``: non-topic words to keep anyway)."""
        dropped = (self.non_topic_words - set(keep)) | set(drop)
        terms = self.segmenter.terms(text, extra_stopwords=dropped)
        out: List[str] = []
        for term in terms:
            canonical = self._synonyms.get(term)
            if canonical is None:
                out.append(term)
            elif term in self._idf:
                out.extend((term, canonical))
            else:
                out.append(canonical)
        return out

    def rank(self, terms: Sequence[str], region: Optional[str] = None, limit: int = 5) -> List[Hit]:
        """Entries by BM25 score for the given terms, best first, zero scores left out."""
        known = [t for t in terms if t in self._idf]
        if not known:
            return []
        scores = self._bm25.get_scores(known)
        hits = [
            Hit(entry, float(score))
            for entry, score in zip(self._entries, scores)
            if score > 0 and (region is None or entry.region == region)
        ]
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit]

    def idf(self, term: str) -> float:
        return self._idf.get(term, 0.0)

    def coverage(self, entry: PolicyEntry, terms: Sequence[str]) -> float:
        """Share of the question's information (idf-weighted words) that the entry contains.

        BM25 alone rewards one rare shared word ("最快" in "北京到张家港怎么走最快"); an answer
        should cover most of what was asked. Words the knowledge base never uses count with
        the highest weight, as they are what the entry does not speak about.
        """
        own = self._entry_terms[entry.id]

        def share(selected: List[str]) -> float:
            total = sum(self._idf.get(t, self._max_idf) for t in selected)
            return sum(self._idf[t] for t in selected if t in own) / total if total else 0.0

        # Words, or character bigrams when jieba cut a colloquial or mistyped phrase oddly.
        words = [t for t in terms if not t.startswith(BIGRAM_MARK)]
        bigrams = [t for t in terms if t.startswith(BIGRAM_MARK)]
        return max(share(words), share(bigrams))

    def _windows(self, text: str) -> Tuple[Tuple[str, ...], ...]:
        """The topic terms of each clause and each pair of adjacent clauses of a question
        (kept for the last questions: a question's coverage is asked for several entries)."""
        cached = self._window_cache.get(text)
        if cached is not None:
            return cached
        if len(self._window_cache) >= WINDOW_CACHE:
            self._window_cache.clear()
        self._window_cache[text] = found = self._clause_windows(text)
        return found

    def _clause_windows(self, text: str) -> Tuple[Tuple[str, ...], ...]:
        # A long message tells its situation first, then asks.
        parts = clauses(text)
        if len(parts) < 2:
            return ()
        spans = parts + [a + b for a, b in zip(parts, parts[1:])]
        windows = []
        for span in spans:
            terms = self.topic_terms(span)
            if sum(not t.startswith(BIGRAM_MARK) for t in terms) >= MIN_CLAUSE_WORDS:
                windows.append(tuple(terms))
        return tuple(windows)

    def offered_concepts(self, entry: PolicyEntry, terms: Sequence[str]) -> List[str]:
        """The question's words that the entry's offer (not its background) contains, each
        concept once: "信用贷款" with its parts "信用" and "贷款" is one."""
        own = self._offer_terms[entry.id]
        words = {t for t in terms if not t.startswith(BIGRAM_MARK) and t in own}
        return sorted(w for w in words if not any(w != o and w in o for o in words))

    def best_coverage(self, entry: PolicyEntry, text: str, terms: Sequence[str]) -> float:
        """Coverage of the whole question, or of its best clause (or two adjacent clauses):
        in "我在钢厂当了十几年焊工……企业可以自己评技能等级吗" the situation must not drown
        the question."""
        return max(
            [self.coverage(entry, terms), *(self.coverage(entry, w) for w in self._windows(text))]
        )

    def best_sentences(
        self,
        entry: PolicyEntry,
        terms: Sequence[str],
        limit: int = 2,
        skip: Iterable[str] = (),
        with_summary: bool = False,
        fields: Optional[Iterable[str]] = None,
        background: bool = False,
    ) -> List[Tuple[str, str]]:
        """The entry's sentences sharing the most informative words with the question (the
        summary only ``with_summary``; never those in ``skip``). Background counts half unless
        the question asks for results (``background``): see HALF_WEIGHT_FIELDS."""
        wanted = set(terms)
        skipped = set(skip)
        only = set(fields) if fields is not None else None
        scored = []
        for order, (field, sentence, words) in enumerate(self._sentences[entry.id]):
            if (field == "summary" and not with_summary) or sentence in skipped:
                continue
            if only is not None and field not in only:
                continue
            overlap = wanted & words
            if overlap:
                score = sum(self.idf(t) or 1.0 for t in overlap)
                # Background counts in full when the question asks for results (``background``).
                asked = field == "background" and background
                if (field in HALF_WEIGHT_FIELDS and not asked) or is_gap(sentence):
                    score /= 2
                if CROSS_REFERENCE in sentence:
                    score /= 2  # "租房补贴另见……" points elsewhere; it answers nothing here
                # Equal matches: the more focused (shorter) sentence says more about them.
                scored.append((score, score / len(words), -order, field, sentence))
        scored.sort(reverse=True)
        return [(field, sentence) for *_, field, sentence in scored[:limit]]
