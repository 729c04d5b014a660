"""Decide which entry a question is about, or what to ask back.

Inputs are what NLU found (linked policy ids, region, aspect) and what the conversation
already knows (the city, the policy talked about, a pending choice). The result says how to
answer: one entry (overview, one aspect, or a detail), ask the city, offer a choice, or admit
that nothing fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Dict, List, Optional, Sequence, Set, Tuple

from bot.kb.models import PolicyEntry
from bot.kb.search import Hit, KBSearch
from bot.text.normalize import normalize_text
from bot.text.tokenize import BIGRAM_MARK

# Tuned on tests/eval/questions_*.yml with `make eval` (see docs/nlu.md).
MIN_SCORE = 2.0  # below this BM25 score an entry is not an answer
MIN_COVERAGE = 0.2  # ...nor when it covers less than this share of the question's words
AMBIGUOUS_RATIO = 0.95  # a runner-up this close to the best makes the choice ambiguous
CITY_RATIO = 0.6  # the other city's best this close means: ask which city
STICKY_RATIO = 0.8  # the policy under discussion wins unless clearly outscored
SWITCH_SCORE = 4.0  # ...and a follow-up moves to another topic only on a score this strong
MIN_DETAIL_IDF = 1.0  # a detail word must be this informative to answer with sentences
# When the NLU itself gives "out of scope" this probability or more, a match found by retrieval
# alone must cover this share of the question. On the held-out set and the evaluation questions
# no in-scope retrieval answer has both more doubt and less coverage (docs/nlu.md).
DOUBT = 0.2
DOUBTFUL_COVERAGE = 0.5


class Kind(str, Enum):
    ANSWER = "answer"  # answer `entry` (overview, `aspect`, or `detail_terms`)
    ASK_REGION = "ask_region"  # the same topic exists in both cities: ask which
    CHOOSE = "choose"  # unsure between `candidates`
    NONE = "none"  # nothing in the knowledge base fits
    OUT_OF_AREA = "out_of_area"  # about a city the assistant does not cover
    NEED_TOPIC = "need_topic"  # an aspect or city without any topic to apply it to


@dataclass(frozen=True)
class Question:
    text: str  # normalised message text
    linked: Tuple[str, ...] = ()  # policy ids found by the entity linker or a button
    region: Optional[str] = None  # a city named in this message
    aspect: Optional[str] = None
    other_place: Optional[str] = None  # a city the assistant does not cover
    known_region: Optional[str] = None  # the city remembered from earlier
    current_policy: Optional[str] = None  # the policy talked about just before
    pending: Tuple[str, ...] = ()  # candidates offered when the city was asked
    doubt: float = 0.0  # the NLU's probability that the message is out of scope


@dataclass(frozen=True)
class Resolution:
    kind: Kind
    entry: Optional[PolicyEntry] = None
    aspect: Optional[str] = None
    candidates: Tuple[PolicyEntry, ...] = ()
    detail_terms: Tuple[str, ...] = ()
    # Set when the answer is about a different city than the one asked about.
    missing_region: Optional[str] = None
    # True when the answer continues the policy under discussion (a follow-up question).
    follow_up: bool = False


class Resolver:
    def __init__(self, search: KBSearch) -> None:
        self.search = search
        self.kb = search.kb
        self._name_terms: Dict[str, Tuple[str, ...]] = {}
        self._normalized: Dict[str, str] = {}

    def _norm(self, name: str) -> str:
        """A knowledge-base name normalised as questions are (once per name, not per question)."""
        normalized = self._normalized.get(name)
        if normalized is None:
            normalized = self._normalized[name] = normalize_text(name)
        return normalized

    def _said(self, entries: Sequence[PolicyEntry], text: str) -> List[str]:
        """The names of ``entries`` that the normalised question text contains."""
        return [name for entry in entries for name in entry.names if self._norm(name) in text]

    def _entries(self, ids: Sequence[str]) -> List[PolicyEntry]:
        seen, out = set(), []
        for entry_id in ids:
            entry = self.kb.get(entry_id)
            if entry and entry.id not in seen:
                seen.add(entry.id)
                out.append(entry)
        return out

    def _name_words_of(self, names: Sequence[str]) -> List[str]:
        words: List[str] = []
        for name in names:
            # Names come from the knowledge base: each is segmented once, not at every question.
            terms = self._name_terms.get(name)
            if terms is None:
                terms = self._name_terms[name] = tuple(
                    self.search.segmenter.terms(self._norm(name))
                )
            words.extend(terms)
        return words

    def _name_words(self, entries: Sequence[PolicyEntry]) -> List[str]:
        """The distinct words of the entries' names (repeats would weigh generic words)."""
        words = self._name_words_of([name for entry in entries for name in entry.names])
        return list(dict.fromkeys(words))

    def _said_name_words(self, entry: PolicyEntry, terms: Sequence[str]) -> Set[str]:
        """The words of the entry's names that the question uses (not the bigrams)."""
        said = set(terms)
        return {w for w in self._name_words([entry]) if w in said and not w.startswith(BIGRAM_MARK)}

    def _refers_to(self, current: PolicyEntry, best: PolicyEntry, terms: Sequence[str]) -> bool:
        """Whether a follow-up names the current entry rather than the best-ranked one."""
        if best.id == current.id:
            return False
        own = self._said_name_words(current, terms)
        return bool(own) and not (self._said_name_words(best, terms) - own)

    def _named_in_full(self, entry: PolicyEntry, terms: Sequence[str]) -> bool:
        """Whether every word of one of the entry's names is in the question, in any order
        ("认定过几名高层次人才" for 高层次人才认定)."""
        said = set(terms)
        for name in entry.names:
            whole = self._norm(name)
            # A name jieba keeps whole is said in full when all of its parts are.
            words = [
                w
                for w in self._name_words_of([name])
                if not w.startswith(BIGRAM_MARK) and w != whole
            ]
            if len(words) >= 2 and all(w in said for w in words):
                return True
        return False

    def _best_covering(self, terms: List[str], region: Optional[str]) -> Optional[PolicyEntry]:
        """The best-ranked entry of a city that covers enough of ``terms``, if any."""
        for hit in self.search.rank(terms, region=region):
            if hit.score < MIN_SCORE:
                break
            if self.search.coverage(hit.entry, terms) >= MIN_COVERAGE:
                return hit.entry
        return None

    def _detail(self, entry: PolicyEntry, q: Question, terms: Sequence[str]) -> Tuple[str, ...]:
        """Words of the question, beyond the names it calls the policy by, worth quoting on."""
        names = set(self._name_words_of(self._said([entry], q.text)))
        return tuple(t for t in terms if t not in names and self.search.idf(t) >= MIN_DETAIL_IDF)

    def resolve(self, q: Question) -> Resolution:
        region = q.region or q.known_region
        terms = self.search.topic_terms(q.text)

        if q.other_place and not q.region:
            # "南京的人才公寓": never answer with one of our cities' policies.
            return Resolution(Kind.OUT_OF_AREA)

        # A pending city question answered with a city.
        if q.pending and q.region and not q.linked:
            chosen = [e for e in self._entries(q.pending) if e.region == q.region]
            if chosen:
                return self._answer(chosen[0], q, terms)

        linked = self._entries(q.linked)
        if linked:
            return self._from_linked(linked, q, terms, region)

        current = self.kb.get(q.current_policy)
        if not terms:
            if current is None:
                return Resolution(Kind.NEED_TOPIC, aspect=q.aspect)
            if q.region and current.region != q.region:
                # "那张家港呢": the same topic in the other city.
                return self._same_topic_elsewhere(current, q)
            return self._answer(current, q, terms, follow_up=True)

        hits = self.search.rank(terms, region=q.region)
        if current is not None and (not q.region or current.region == q.region):
            current_hit = next((h for h in hits if h.entry.id == current.id), None)
            best = hits[0].score if hits else 0.0
            if current_hit and current_hit.score >= STICKY_RATIO * best:
                return self._answer(current, q, terms, follow_up=True)
            if current_hit and self._refers_to(current, hits[0].entry, terms):
                # "我不是领军人才，有资格吗" after 领军人才走访: its name words, not the other's.
                return self._answer(current, q, terms, follow_up=True)
            if best < (SWITCH_SCORE if q.aspect else MIN_SCORE):
                # "每个人能补多少": an aspect with weak topic words is about the same policy.
                return self._answer(current, q, terms, follow_up=True)
        return self._from_hits(hits, q, terms, region)

    def _from_linked(
        self, linked: List[PolicyEntry], q: Question, terms: List[str], region: Optional[str]
    ) -> Resolution:
        if region:
            local = [e for e in linked if e.region == region]
            if not local:
                if q.region:
                    # Asked for a city that has no entry of that name: what the question says
                    # besides the name may still match one of its entries…
                    named = set(self._name_words_of(self._said(linked, q.text)))
                    rest = [t for t in terms if t not in named]
                    if rest:
                        hits = self.search.rank(rest, region=q.region)
                        found = self._from_hits(hits, q, rest, region)
                        if found.kind is not Kind.NONE:
                            return found
                    # …or the topic of the named entry.
                    nearest = self._best_covering(self._name_words(linked[:1]), q.region)
                    if nearest is not None:
                        return self._answer(nearest, q, terms)
                return self._answer(linked[0], q, terms, missing_region=region)
            linked = local
        regions = {e.region for e in linked}
        if len(regions) > 1:
            return Resolution(Kind.ASK_REGION, aspect=q.aspect, candidates=tuple(linked))
        if len(linked) == 1:
            return self._answer(linked[0], q, terms)
        hits = self.search.rank(terms, region=linked[0].region, limit=20)
        order = {h.entry.id: h.score for h in hits}
        linked.sort(key=lambda e: order.get(e.id, 0.0), reverse=True)
        first, second = order.get(linked[0].id, 0.0), order.get(linked[1].id, 0.0)
        if first > 0 and second < AMBIGUOUS_RATIO * first:
            return self._answer(linked[0], q, terms)
        return Resolution(Kind.CHOOSE, aspect=q.aspect, candidates=tuple(linked[:3]))

    def _from_hits(
        self, hits: List[Hit], q: Question, terms: List[str], region: Optional[str]
    ) -> Resolution:
        hits = [h for h in hits if self.search.coverage(h.entry, terms) >= MIN_COVERAGE]
        if not hits or hits[0].score < MIN_SCORE or self._doubtful(hits[0], q, terms):
            return Resolution(Kind.NONE)
        best = hits[0]
        if region is None:
            other = next((h for h in hits if h.entry.region != best.entry.region), None)
            if other is not None and other.score >= CITY_RATIO * best.score:
                same = [h.entry for h in hits if h.score >= CITY_RATIO * best.score]
                return Resolution(Kind.ASK_REGION, aspect=q.aspect, candidates=tuple(same))
        else:
            hits = [h for h in hits if h.entry.region == region]
            if not hits or hits[0].score < MIN_SCORE or self._doubtful(hits[0], q, terms):
                return Resolution(Kind.NONE)
            best = hits[0]
        close = [h.entry for h in hits[1:3] if h.score >= AMBIGUOUS_RATIO * best.score]
        if close:
            named = [e for e in (best.entry, *close) if self._named_in_full(e, terms)]
            if len(named) == 1:
                return self._answer(named[0], q, terms)
            return Resolution(Kind.CHOOSE, aspect=q.aspect, candidates=(best.entry, *close))
        return self._answer(best.entry, q, terms)

    def _doubtful(self, best: Hit, q: Question, terms: Sequence[str]) -> bool:
        """The NLU doubted the question and the best match covers too little of it."""
        return q.doubt >= DOUBT and self.search.coverage(best.entry, terms) < DOUBTFUL_COVERAGE

    def _same_topic_elsewhere(self, current: PolicyEntry, q: Question) -> Resolution:
        nearest = self._best_covering(self._name_words([current]), q.region)
        if nearest is not None:
            return self._answer(nearest, q, [])
        return Resolution(Kind.NONE, missing_region=q.region)

    def _answer(
        self,
        entry: PolicyEntry,
        q: Question,
        terms: Sequence[str],
        *,
        follow_up: bool = False,
        missing_region: Optional[str] = None,
    ) -> Resolution:
        detail = () if q.aspect else self._detail(entry, q, terms)
        return Resolution(
            Kind.ANSWER,
            entry=entry,
            aspect=q.aspect,
            detail_terms=detail,
            follow_up=follow_up,
            missing_region=missing_region,
        )
