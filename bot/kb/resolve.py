"""Decide which entry a question is about, or what to ask back.

Inputs are what NLU found (linked policy ids, region, aspect) and what the conversation
already knows (the city, the policy talked about, a pending choice). The result says how to
answer: one entry (overview, one aspect, or a detail), ask the city, offer a choice, or admit
that nothing fits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Dict, List, Optional, Sequence, Set, Tuple

from bot.kb.models import PolicyEntry
from bot.kb.reading import QuestionReader, Reading
from bot.kb.search import Hit, KBSearch
from bot.text.clauses import questions
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
# A list answer names the entries scoring at least this share of the best, at most this many
# per city.
LIST_RATIO = 0.4
LIST_PER_CITY = 4
LIST_COVERAGE = 0.1
DOMINANT_RATIO = 1.4
# How a follow-up that goes on about the programme just answered begins.
CONTINUATIONS = ("那", "这个", "这项", "它", "那这个", "那么")
ELLIPSIS_CHARS = 12  # "那租房的呢": longer messages ask something of their own


class Kind(str, Enum):
    ANSWER = "answer"  # answer `entry` (overview, `aspect`, or `detail_terms`)
    ASK_REGION = "ask_region"  # the same topic exists in both cities: ask which
    CHOOSE = "choose"  # unsure between `candidates`
    NONE = "none"  # nothing in the knowledge base fits
    OUT_OF_AREA = "out_of_area"  # about a city the assistant does not cover
    NEED_TOPIC = "need_topic"  # an aspect or city without any topic to apply it to
    LIST = "list"  # "有哪些补贴", "海宁和张家港哪个好": the matching entries, one line each


@dataclass(frozen=True)
class Question:
    text: str  # normalised message text
    linked: Tuple[str, ...] = ()  # policy ids found by the entity linker or a button
    region: Optional[str] = None  # a city named in this message (or a button's)
    aspects: Tuple[str, ...] = ()  # asked by a button, or pending from a city question
    other_place: Optional[str] = None  # a city the assistant does not cover
    known_region: Optional[str] = None  # the city remembered from earlier
    current_policy: Optional[str] = None  # the policy talked about just before
    pending: Tuple[str, ...] = ()  # candidates offered when the city was asked
    previous_text: str = ""  # the last policy question, for "那张家港呢" and corrections
    doubt: float = 0.0  # the NLU's probability that the message is out of scope
    # Read from the text by the resolver (bot.kb.reading): every city named, a list or a
    # comparison asked for.
    regions: Tuple[str, ...] = ()
    wants_list: bool = False
    compares: bool = False
    asks_background: bool = False
    topic_text: str = ""  # the text without a comparison's own words
    carried: str = ""  # what "那…呢" asks again of the previous question ("发了多少人")
    ellipsis: bool = False  # "那租房的呢": another topic, asked as the previous question

    @property
    def aspect(self) -> Optional[str]:
        return self.aspects[0] if self.aspects else None


@dataclass(frozen=True)
class Resolution:
    kind: Kind
    entry: Optional[PolicyEntry] = None
    aspects: Tuple[str, ...] = ()
    candidates: Tuple[PolicyEntry, ...] = ()
    detail_terms: Tuple[str, ...] = ()
    # Set when the answer is about a different city than the one asked about.
    missing_region: Optional[str] = None
    # True when the answer continues the policy under discussion (a follow-up question).
    follow_up: bool = False
    # The question asks for the city's results: background facts answer it.
    asks_background: bool = False
    # The question asks for everything of a kind ("有哪些功能"): the entry's facts, not one.
    wants_list: bool = False

    @property
    def aspect(self) -> Optional[str]:
        return self.aspects[0] if self.aspects else None


class Resolver:
    def __init__(self, search: KBSearch) -> None:
        self.search = search
        self.kb = search.kb
        self.reader = QuestionReader(self.kb)
        self._cities = frozenset(e.region for e in self.kb)
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

    def _each_named(self, entries: Sequence[PolicyEntry], text: str) -> List[PolicyEntry]:
        """The entries the text names by a name of their own (one no other of them has)."""
        names = {e.id: {self._norm(n) for n in e.names} for e in entries}
        own = []
        for entry in entries:
            others = set().union(*(v for k, v in names.items() if k != entry.id))
            if any(n in text and n not in others for n in names[entry.id]):
                own.append(entry)
        return own

    def _side_by_side(
        self, entries: Sequence[PolicyEntry], q: Question, terms: Sequence[str]
    ) -> Resolution:
        """Programmes named together, each answered for what the question asks."""
        return Resolution(
            Kind.LIST,
            candidates=tuple(entries),
            aspects=q.aspects,
            detail_terms=tuple(terms),
            asks_background=q.asks_background,
        )

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
        # Aspect words count here ("基金规模多少" quotes the sentence with 规模): they do not
        # choose the entry, but they say which of its facts answers.
        words = [*terms, *self.search.topic_terms(q.text, keep=self.search.aspect_words)]
        asked = self.reader.background_words(f"{q.text} {q.carried}")
        words += [w for w in asked if w not in words]
        return tuple(
            dict.fromkeys(
                t for t in words if t not in names and self.search.idf(t) >= MIN_DETAIL_IDF
            )
        )

    def read(self, q: Question) -> Question:
        """The question with what its text asks for: the aspects and cities it names (a
        button's or a pending aspect when the text names none), a list or a comparison."""
        reading = self.reader.read(q.text)
        regions = reading.regions or ((q.region,) if q.region else ())
        carried = ""
        ellipsis = self._asks_as_before(q, reading)
        if ellipsis:
            # "那租房的呢" after "购房补贴发了多少人": the same question of another topic.
            before = self.reader.read(q.previous_text)
            reading = replace(
                reading, aspects=before.aspects, asks_background=before.asks_background
            )
            carried = " ".join(self.reader.background_words(q.previous_text))
        return replace(
            q,
            carried=carried,
            ellipsis=ellipsis,
            aspects=reading.aspects or q.aspects,
            region=regions[0] if regions else None,
            regions=regions,
            wants_list=reading.wants_list,
            compares=reading.compares,
            asks_background=reading.asks_background,
            topic_text=reading.topic_text,
        )

    def _asks_as_before(self, q: Question, reading: Reading) -> bool:
        """A short "那…呢" that names a topic and asks nothing of its own: it asks the
        previous question of that topic ("那海宁呢", a city alone, is asked again elsewhere)."""
        text = q.text.strip(" ?？")
        return (
            bool(q.previous_text)
            and text.startswith(CONTINUATIONS)
            and text.endswith("呢")
            and len(text) <= ELLIPSIS_CHARS
            and not reading.aspects
            and not reading.asks_background
            and any(self.search.idf(t) for t in self.search.topic_terms(text))
        )

    def resolve(self, q: Question) -> Resolution:
        return self._settle(self.read(q))

    def _settle(self, q: Question) -> Resolution:
        """The resolution of a question already read, asked again for another city when it
        only names one (or finds nothing)."""
        found = self._resolve(q)
        if found.kind in (Kind.NONE, Kind.NEED_TOPIC) or self._only_city(q):
            again = self._asked_again_elsewhere(q)
            if again is not None and again.kind not in (Kind.NONE, Kind.NEED_TOPIC):
                return again
        return found

    def resolve_parts(self, q: Question) -> List[Resolution]:
        """One resolution per question of a message that asks about two programmes ("海宁人才
        绿卡发给谁？健康体检又是给谁的"), else the message's own resolution alone."""
        read = self.read(q)
        whole = self._settle(read)
        if whole.kind not in (Kind.ANSWER, Kind.NONE, Kind.CHOOSE):
            return [whole]
        parts = questions(q.text)
        if len(parts) < 2:
            return [whole]
        named = read.region
        answers: List[Resolution] = []
        for part in parts:
            linked = tuple(e.id for e in self._entries(q.linked) if self._said([e], part))
            sub = self.read(replace(q, text=part, linked=linked, previous_text=""))
            if not sub.region and named:
                sub = replace(sub, region=named, regions=(named,))
            found = self._resolve(sub)
            if found.kind is Kind.ANSWER and found.entry is not None and self._firm(found, sub):
                if all(a.entry is not found.entry for a in answers):
                    answers.append(found)
        return answers if len(answers) >= 2 else [whole]

    def _firm(self, found: Resolution, q: Question) -> bool:
        """A part's answer stands on its own: its programme is named, or it covers the part."""
        assert found.entry is not None
        if found.entry.id in q.linked:
            return True
        terms = self._terms(q)
        return bool(terms) and self.search.coverage(found.entry, terms) >= DOUBTFUL_COVERAGE

    def _terms(self, q: Question) -> List[str]:
        return self.search.topic_terms(q.topic_text or q.text)

    def _only_city(self, q: Question) -> bool:
        """A message that names a city and asks nothing new ("那海宁呢", "不对，是张家港")."""
        # Words the knowledge base never uses ("不好意思打错了") say nothing new either.
        terms = self._terms(q)
        return bool(q.region) and not q.aspects and not any(self.search.idf(t) for t in terms)

    def _asked_again_elsewhere(self, q: Question) -> Optional[Resolution]:
        """The previous question asked again for the city this message names, with what this
        message adds ("不是海宁，是张家港的，面积多大")."""
        if not q.region or not q.previous_text or q.linked:
            return None
        rest = self.reader.without_cities(q.text)
        text = f"{q.region}{self.reader.without_cities(q.previous_text)} {rest}".strip()
        again = replace(q, text=text, previous_text="", current_policy=None, region=None)
        return self._resolve(self.read(again))

    def _resolve(self, q: Question) -> Resolution:
        region = q.region or q.known_region
        terms = self._terms(q)

        if q.other_place and not q.region:
            # "南京的人才公寓": never answer with one of our cities' policies.
            return Resolution(Kind.OUT_OF_AREA)

        # A pending city question answered with a city.
        if q.pending and q.region and not q.linked:
            chosen = [e for e in self._entries(q.pending) if e.region == q.region]
            if chosen:
                return self._answer(chosen[0], q, terms)

        linked = self._entries(q.linked)
        # A list when the question compares, or wants a list and names no programme ("有什么
        # 补贴"); a named programme's own facts answer "海宁人才子女入学有啥政策".
        both_cities = q.compares and len(q.regions) > 1
        if (
            both_cities
            or (q.compares and len(linked) != 1)
            or (q.wants_list and not q.aspects and not linked)
        ):
            listed = self._list(q, terms, linked)
            if listed is not None:
                return listed
        if linked:
            return self._from_linked(linked, q, terms, region)

        current = self.kb.get(q.current_policy)
        if not terms:
            if current is None:
                return Resolution(Kind.NEED_TOPIC, aspects=q.aspects)
            if q.region and current.region != q.region:
                # "那张家港呢": the same topic in the other city.
                return self._same_topic_elsewhere(current, q)
            return self._answer(current, q, terms, follow_up=True)

        hits = self.search.rank(terms, region=q.region)
        if current is not None and not q.ellipsis and (not q.region or current.region == q.region):
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
            other_named = bool(hits) and bool(self._said([hits[0].entry], q.text))
            if q.aspect and q.text.startswith(CONTINUATIONS) and not other_named:
                # "那我一个普通本科生能领吗" after 人才绿卡: the citizen's situation, asked of
                # the programme just answered (no other programme named).
                return self._answer(current, q, terms, follow_up=True)
        return self._from_hits(hits, q, terms, region)

    def _from_linked(
        self, linked: List[PolicyEntry], q: Question, terms: List[str], region: Optional[str]
    ) -> Resolution:
        if region:
            local = [e for e in linked if e.region == region]
            if not local:
                if q.region:
                    # Asked for a city that has no entry of that name: its entry on the same
                    # topic ("在海宁，子女就学" with 张家港's name for it)…
                    nearest = self._best_covering(self._name_words(linked[:1]), q.region)
                    if nearest is not None:
                        return self._answer(nearest, q, terms)
                    # …or what the question says besides the name.
                    named = set(self._name_words_of(self._said(linked, q.text)))
                    rest = [t for t in terms if t not in named]
                    if rest:
                        hits = self.search.rank(rest, region=q.region)
                        found = self._from_hits(hits, q, rest, region)
                        if found.kind is not Kind.NONE:
                            return found
                    return self._answer(linked[0], q, terms, missing_region=q.region)
                # Only the remembered city differs: the message names the other city's
                # programme, which is what the citizen asks about now.
                regions = {e.region for e in linked}
                if len(regions) == 1:
                    return self._answer(linked[0], q, terms)
            else:
                linked = local
        regions = {e.region for e in linked}
        if len(regions) == 1 and region is None and terms:
            # A name only one city's entry lists ("孩子上学"), while the other city's entry
            # on the topic matches as well: which city is still the question.
            hits = self.search.rank(terms)
            best = max((h.score for h in hits if h.entry in linked), default=0.0)
            others = [h.entry for h in hits if h.entry.region not in regions]
            other_best = max((h.score for h in hits if h.entry.region not in regions), default=0)
            if best and other_best >= CITY_RATIO * best:
                return Resolution(
                    Kind.ASK_REGION, aspects=q.aspects, candidates=(*linked[:1], others[0])
                )
        if len(regions) > 1:
            return Resolution(Kind.ASK_REGION, aspects=q.aspects, candidates=tuple(linked))
        if len(linked) == 1:
            return self._answer(linked[0], q, terms)
        named = self._each_named(linked, q.text)
        if len(named) >= 2:
            # "购房补贴和租房补贴各有多少人拿到了": two programmes, each by its own name.
            return self._side_by_side(named, q, terms)
        hits = self.search.rank(terms, region=linked[0].region, limit=20)
        order = {h.entry.id: h.score for h in hits}
        linked.sort(key=lambda e: order.get(e.id, 0.0), reverse=True)
        first, second = order.get(linked[0].id, 0.0), order.get(linked[1].id, 0.0)
        if first > 0 and second < AMBIGUOUS_RATIO * first:
            return self._answer(linked[0], q, terms)
        return Resolution(Kind.CHOOSE, aspects=q.aspects, candidates=tuple(linked[:3]))

    def _from_hits(
        self, hits: List[Hit], q: Question, terms: List[str], region: Optional[str]
    ) -> Resolution:
        hits = [
            h for h in hits if self.search.best_coverage(h.entry, q.text, terms) >= MIN_COVERAGE
        ]
        if not hits or hits[0].score < MIN_SCORE or self._doubtful(hits[0], q, terms):
            return Resolution(Kind.NONE)
        best = hits[0]
        if region is None:
            other = next((h for h in hits if h.entry.region != best.entry.region), None)
            if other is not None and other.score >= CITY_RATIO * best.score:
                same = [h.entry for h in hits if h.score >= CITY_RATIO * best.score]
                return Resolution(Kind.ASK_REGION, aspects=q.aspects, candidates=tuple(same))
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
            return Resolution(Kind.CHOOSE, aspects=q.aspects, candidates=(best.entry, *close))
        return self._answer(best.entry, q, terms)

    def _list(
        self, q: Question, terms: List[str], linked: List[PolicyEntry]
    ) -> Optional[Resolution]:
        """The entries a list or comparison question is about, in the cities it names (both
        when it compares them or names none), or None when fewer than two match."""
        if q.compares and len(q.regions) != 1:
            regions = set(self._cities)
        else:
            regions = {q.region or q.known_region} if (q.region or q.known_region) else set()
        regions = regions or set(self._cities)
        chosen = [e for e in linked if e.region in regions]
        if q.compares and len(chosen) >= 2:
            # Two programmes named and compared ("购房补贴和租房补贴哪个划算"): those two.
            return self._side_by_side(chosen, q, terms)
        if terms:
            # A list offers candidates: the words of a citizen's situation ("我是硕士刚毕业")
            # need not all be covered, as long as the entry speaks of part of the question.
            hits = [
                h
                for h in self.search.rank(terms, limit=len(self.kb))
                if h.entry.region in regions
                and self.search.coverage(h.entry, terms) >= LIST_COVERAGE
            ]
            if hits and hits[0].score >= MIN_SCORE and not self._doubtful(hits[0], q, terms):
                top_covers = (
                    self.search.best_coverage(hits[0].entry, q.text, terms) >= DOUBTFUL_COVERAGE
                )
                if not linked and len(q.regions) < 2 and self._dominates(hits) and top_covers:
                    return None  # one programme is what the list is about: its facts answer
                floor = max(MIN_SCORE, LIST_RATIO * hits[0].score)
                chosen += [h.entry for h in hits if h.score >= floor and h.entry not in chosen]
        if terms and len(q.regions) > 1:
            # Two cities compared: each city's closest entries, also when one matches weakly.
            for city in regions - {e.region for e in chosen}:
                chosen += [h.entry for h in self.search.rank(terms, region=city, limit=2)]
        # Only words every programme uses ("给人才的服务都有哪些"): as good as none.
        generic = all(0 < self.search.idf(t) < MIN_DETAIL_IDF for t in terms)
        if len(chosen) < 2 and (not terms or generic or len(q.regions) > 1):
            # "有哪些政策", or the two cities compared on something the entries say nothing
            # specific about: the entries with a figure to tell first.
            featured = {entry_id: n for n, entry_id in enumerate(self.kb.vocabulary.featured)}
            chosen += sorted(
                (e for e in self.kb if e.region in regions and e not in chosen),
                key=lambda e: (featured.get(e.id, len(featured)), not e.amounts, e.id),
            )
        per_city: Dict[str, List[PolicyEntry]] = {}
        for entry in chosen:
            per_city.setdefault(entry.region, []).append(entry)
        if len(q.regions) > 1 and len(per_city) == 1 and terms:
            # Two cities compared on what only one of them has ("两地的人才公寓有什么区别"):
            # that city's programme, saying the other has none in the knowledge base.
            (city,) = per_city
            missing = sorted(set(q.regions) - {city})
            best = self._city_best(terms, city) or per_city[city][0]
            return self._answer(best, q, terms, missing_region=missing[0] if missing else None)
        if len(per_city) > 1 and terms and not linked:
            # Two cities compared on one topic: each city's clearly best entry, side by side.
            tops = [self._city_best(terms, city) for city in sorted(per_city)]
            if all(tops):
                return Resolution(Kind.LIST, candidates=tuple(e for e in tops if e))
        # Both cities: fewer lines each, so that the list fits one phone screen.
        per = LIST_PER_CITY if len(per_city) == 1 else LIST_PER_CITY - 1
        listed = tuple(e for city in sorted(per_city) for e in per_city[city][:per])
        if len(listed) < 2:
            return None
        return Resolution(Kind.LIST, candidates=listed, detail_terms=tuple(terms))

    def _city_best(self, terms: List[str], city: str) -> Optional[PolicyEntry]:
        """A city's entry for the terms when it clearly beats the city's others."""
        hits = self.search.rank(terms, region=city, limit=2)
        return hits[0].entry if hits and self._dominates(hits) else None

    @staticmethod
    def _dominates(hits: Sequence[Hit]) -> bool:
        """The best entry scores at least DOMINANT_RATIO times the next ("张家港给人才的礼遇
        都有哪些": the 12 courtesies, not a list of programmes)."""
        return len(hits) < 2 or hits[0].score >= DOMINANT_RATIO * hits[1].score

    def _doubtful(self, best: Hit, q: Question, terms: Sequence[str]) -> bool:
        """The NLU doubted the question and the best match covers too little of it."""
        coverage = self.search.best_coverage(best.entry, q.text, terms)
        return q.doubt >= DOUBT and coverage < DOUBTFUL_COVERAGE

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
        detail = self._detail(entry, q, terms)
        if missing_region is None and not follow_up and not (q.region or q.known_region):
            # No city given and only one city has such a programme ("人才公寓怎么申请"): say
            # that the other city has none in the knowledge base, rather than let a citizen of
            # that city take this one for theirs. A programme with a name of its own
            # (“攀峰计划”, quoted in its title) needs no such line.
            others = sorted(set(self._cities) - {entry.region})
            if len(others) == 1 and "“" not in entry.title:
                missing_region = others[0]
        return Resolution(
            Kind.ANSWER,
            entry=entry,
            aspects=q.aspects,
            detail_terms=detail,
            follow_up=follow_up,
            missing_region=missing_region,
            asks_background=q.asks_background,
            wants_list=q.wants_list,
        )
