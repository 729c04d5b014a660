"""The knowledge base's vocabulary: city names and the words that signal each aspect.

Kept as data (``policies_kb/vocabulary.yml``) so that a city adds its own colloquialisms
without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from bot.kb.models import ASPECTS, REGIONS

VOCABULARY_FILE = "vocabulary.yml"


@dataclass(frozen=True)
class Region:
    name: str
    aliases: Tuple[str, ...]
    office: str


@dataclass(frozen=True)
class Vocabulary:
    regions: Tuple[Region, ...]
    other_places: Tuple[str, ...]
    aspect_triggers: Dict[str, Tuple[str, ...]]
    stopwords: Tuple[str, ...]
    # Everyday word -> the word the entries use ("老婆" -> "配偶"), for retrieval.
    synonyms: Mapping[str, str] = field(default_factory=dict)
    # Phrases that open a message and ask for nothing ("我想咨询", "了解一下"): no aspect.
    openers: Tuple[str, ...] = ()
    # Phrases that ask for a list of policies ("有哪些", "有什么") or a comparison ("哪个好").
    list_markers: Tuple[str, ...] = ()
    compare_markers: Tuple[str, ...] = ()
    # Phrases that ask for the city's results ("多少人拿到了", "总规模"): background answers.
    background_markers: Tuple[str, ...] = ()
    # Entry ids a general question ("有哪些政策") lists first, in this order.
    featured: Tuple[str, ...] = ()
    # Variant spelling -> standard form, applied by the normaliser: English and pinyin names,
    # dialect particles, homophone typos ("talent loan" -> "人才贷", "伐" -> "吗").
    spellings: Mapping[str, str] = field(default_factory=dict)

    def region(self, name: Optional[str]) -> Optional[Region]:
        return next((r for r in self.regions if r.name == name), None)


def _strings(value: Any) -> Optional[Tuple[str, ...]]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return tuple(v.strip() for v in value)


def _synonyms(raw: Any, problems: List[Tuple[str, str]]) -> Dict[str, str]:
    """``{word the entries use: [everyday words]}`` turned into ``{everyday word: entry word}``."""
    if not isinstance(raw, Mapping):
        problems.append(("synonyms", "须为映射：条目用词 -> 口语说法列表"))
        return {}
    out: Dict[str, str] = {}
    for canonical, words in raw.items():
        spoken = _strings(words)
        if not isinstance(canonical, str) or not canonical.strip() or not spoken:
            problems.append((f"synonyms.{canonical}", "须为非空文本列表"))
            continue
        for word in spoken:
            if word in out and out[word] != canonical.strip():
                problems.append((f"synonyms.{canonical}", f"“{word}”已对应“{out[word]}”"))
            out[word] = canonical.strip()
    return out


def _spellings(raw: Any, problems: List[Tuple[str, str]]) -> Dict[str, str]:
    """``{standard form: [variants]}`` turned into ``{variant: standard form}``; variants are
    matched after normalisation (lower case, simplified), so they are written that way."""
    if not isinstance(raw, Mapping):
        problems.append(("spellings", "须为映射：标准写法 -> 变体写法列表"))
        return {}
    out: Dict[str, str] = {}
    for standard, variants in raw.items():
        words = _strings(variants)
        if not isinstance(standard, str) or not standard.strip() or not words:
            problems.append((f"spellings.{standard}", "须为非空文本列表"))
            continue
        for word in words:
            if word != word.lower():
                problems.append((f"spellings.{standard}", f"“{word}”须写成小写"))
            elif word in out and out[word] != standard.strip():
                problems.append((f"spellings.{standard}", f"“{word}”已对应“{out[word]}”"))
            else:
                out[word] = standard.strip()
    return out


def parse_vocabulary(data: Any) -> Tuple[Optional[Vocabulary], List[Tuple[str, str]]]:
    """Validates the vocabulary file; returns it or a list of (field, reason)."""
    problems: List[Tuple[str, str]] = []
    if not isinstance(data, Mapping):
        return None, [("(文件)", "顶层必须是键值映射")]
    regions: List[Region] = []
    for i, item in enumerate(data.get("regions") or []):
        name = item.get("name") if isinstance(item, Mapping) else None
        aliases = _strings(item.get("aliases")) if isinstance(item, Mapping) else None
        office = item.get("office") if isinstance(item, Mapping) else None
        if name not in REGIONS:
            problems.append((f"regions[{i}].name", f"须为 {' / '.join(REGIONS)} 之一"))
            continue
        if not aliases:
            problems.append((f"regions[{i}].aliases", "须为非空文本列表"))
            continue
        if not isinstance(office, str) or not office.strip():
            problems.append((f"regions[{i}].office", "须为非空文本"))
            continue
        regions.append(Region(name=name, aliases=aliases, office=office.strip()))
    if {r.name for r in regions} != set(REGIONS) and not problems:
        problems.append(("regions", f"须为每个城市（{'、'.join(REGIONS)}）各写一项"))
    other = _strings(data.get("other_places") or [])
    if other is None:
        problems.append(("other_places", "须为文本列表"))
    stopwords = _strings(data.get("stopwords") or [])
    if stopwords is None:
        problems.append(("stopwords", "须为文本列表"))
    triggers: Dict[str, Tuple[str, ...]] = {}
    raw = data.get("aspects")
    if not isinstance(raw, Mapping):
        problems.append(("aspects", f"须为映射，键为 {', '.join(ASPECTS)}"))
    else:
        for key in raw:
            if key not in ASPECTS:
                problems.append((f"aspects.{key}", "未知的问题方面"))
        for key in ASPECTS:
            words = _strings(raw.get(key))
            if not words:
                problems.append((f"aspects.{key}", "须为非空文本列表"))
            else:
                triggers[key] = words
    synonyms = _synonyms(data.get("synonyms") or {}, problems)
    phrases: Dict[str, Tuple[str, ...]] = {}
    for key in ("openers", "list_markers", "compare_markers", "background_markers", "featured"):
        words = _strings(data.get(key) or [])
        if words is None:
            problems.append((key, "须为文本列表"))
        phrases[key] = words or ()
    spellings = _spellings(data.get("spellings") or {}, problems)
    if problems:
        return None, problems
    return (
        Vocabulary(
            regions=tuple(regions),
            other_places=other or (),
            aspect_triggers=triggers,
            stopwords=stopwords or (),
            synonyms=synonyms,
            spellings=spellings,
            **phrases,
        ),
        [],
    )
