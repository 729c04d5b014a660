"""Read what a question asks for, beside what it is about: the aspects (one or several), the
cities it names, and whether it wants a list or a comparison.

Read from the normalised text with the knowledge base's vocabulary, not from keywords alone:
openers and politeness ("我想咨询", "了解一下") ask for nothing, and an aspect word inside a
topic's name ("示范服务窗口") is part of the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Set, Tuple

from bot.kb.loader import KnowledgeBase
from bot.text.normalize import normalize_text


@dataclass(frozen=True)
class Reading:
    aspects: Tuple[str, ...] = ()  # in the order asked, without repeats
    regions: Tuple[str, ...] = ()  # cities named, in order
    wants_list: bool = False  # "有哪些", "有什么补贴"
    compares: bool = False  # "哪个好", or two cities named
    asks_background: bool = False  # "多少人拿到了": the city's results are the answer
    # The text without the comparison's own words ("谁力度大", "两个城市"): what it is about.
    topic_text: str = ""


# Words before a city that take it back ("不是海宁，是张家港").
NEGATIONS = ("不是", "不在", "不要", "不问", "不对")


def _phrases(words: Iterable[str]) -> List[str]:
    """Distinct normalised phrases, longest first (a longer phrase wins over its parts)."""
    return sorted({normalize_text(w) for w in words if w.strip()}, key=len, reverse=True)


def _find(text: str, phrases: Iterable[str], taken: Set[int]) -> List[Tuple[int, str]]:
    """Non-overlapping occurrences of ``phrases`` outside ``taken``, longest first; the
    characters found are added to ``taken``."""
    found: List[Tuple[int, str]] = []
    for phrase in phrases:
        start = text.find(phrase)
        while start != -1:
            span = set(range(start, start + len(phrase)))
            if not span & taken:
                taken |= span
                found.append((start, phrase))
            start = text.find(phrase, start + 1)
    return sorted(found)


class QuestionReader:
    def __init__(self, kb: KnowledgeBase) -> None:
        vocab = kb.vocabulary
        self._openers = _phrases(vocab.openers)
        self._names = _phrases(name for entry in kb for name in entry.names)
        self._aspect_of: Dict[str, str] = {}
        for key, triggers in vocab.aspect_triggers.items():
            for trigger in triggers:
                self._aspect_of.setdefault(normalize_text(trigger), key)
        self._aspect_phrases = _phrases(self._aspect_of)
        self._region_of = {
            normalize_text(alias): region.name
            for region in vocab.regions
            for alias in (region.name, *region.aliases)
        }
        self._region_phrases = _phrases(self._region_of)
        self._list_markers = _phrases(vocab.list_markers)
        self._compare_markers = _phrases(vocab.compare_markers)
        self._background_markers = _phrases(vocab.background_markers)

    def background_words(self, text: str) -> List[str]:
        """The phrases of a question that ask for results ("面积", "多少人"), as words that
        pick the facts answering them."""
        return [p for _, p in _find(text, self._background_markers, set())]

    def without_cities(self, text: str) -> str:
        """The text with every city name taken out (to ask it again for another city)."""
        for phrase in self._region_phrases:
            text = text.replace(phrase, "")
        return text

    def read(self, text: str) -> Reading:
        """``text`` is normalised (as the NLU left it)."""
        if not text:
            return Reading()
        found = _find(text, self._region_phrases, set())
        named = [
            self._region_of[p]
            for start, p in found
            if not text[max(0, start - 2) : start].endswith(NEGATIONS)
        ]
        # A correction names the city it takes back too: only the others count then.
        regions = tuple(dict.fromkeys(named or (self._region_of[p] for _, p in found)))
        # Openers and topic names are not read for aspects.
        taken: Set[int] = set()
        _find(text, self._openers, taken)
        _find(text, self._names, taken)
        aspects = tuple(
            dict.fromkeys(self._aspect_of[p] for _, p in _find(text, self._aspect_phrases, taken))
        )
        opened: Set[int] = set()
        _find(text, self._openers, opened)
        wants_list = bool(_find(text, self._list_markers, set(opened)))
        comparing = _find(text, self._compare_markers, set(opened))
        compares = len(regions) > 1 or bool(comparing)
        topic_text = text
        for start, phrase in comparing:
            topic_text = topic_text[:start] + " " * len(phrase) + topic_text[start + len(phrase) :]
        asks_background = bool(_find(text, self._background_markers, set(opened)))
        return Reading(
            aspects=aspects,
            regions=regions,
            wants_list=wants_list,
            compares=compares,
            asks_background=asks_background,
            topic_text=topic_text,
        )
