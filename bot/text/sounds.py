"""Words of the knowledge base found by their sound: homophone typos of the input method
("海宁人才录卡" for 绿卡, "智会港城" for 智汇港城) and pinyin typed instead of characters
("haining rencai lvka gei shei").

Pinyin input makes a citizen pick a character with the right sound and the wrong meaning; the
sound is what the typo keeps. Only the knowledge base's own words (names, aliases, vocabulary)
are restored, and never over a real word: a substring that jieba's dictionary or the knowledge
base knows is taken as written.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

from pypinyin import lazy_pinyin

# (start, end, standard form) in the text being rewritten.
Span = Tuple[int, int, str]

MIN_CHARS = 2  # one character has too many homophones to guess
# A typo is restored only in a word of this many characters: two-character sounds are shared
# across word boundaries too often ("浙大一院" is no 医院); short typos go in ``spellings``.
MIN_TYPO_CHARS = 3
# Characters that are words of their own: "张家港是高层次人才" has no typo of 张家港市.
FUNCTION_CHARS = frozenset("是的了在那也个和有就都吗呢啊吧一这")
MAX_ASCII_WORDS = 4  # "ren cai gong yu": one word spelt out syllable by syllable
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
# Whole words only: never a part of an identifier ("zjg-2024-00202").
_ASCII_WORD = re.compile(r"(?<![a-z0-9_-])[a-z]+(?![a-z0-9_-])")


def _sound(text: str) -> Tuple[str, ...]:
    # ü is typed v (lv) or u (lu): both count as u.
    return tuple(s.replace("ü", "u").replace("v", "u") for s in lazy_pinyin(text))


def _is_cjk(text: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in text)


class SoundIndex:
    def __init__(self, words: Iterable[str], is_word: Callable[[str], bool]) -> None:
        """``words``: the knowledge base's words to restore; ``is_word``: whether a string is
        a real word as written (then it is no typo)."""
        words = list(words)
        self._is_word = is_word
        by_sound: Dict[Tuple[str, ...], Set[str]] = {}
        for word in words:
            if len(word) >= MIN_CHARS and _is_cjk(word):
                by_sound.setdefault(_sound(word), set()).add(word)
        # A sound two words share tells neither: left out.
        self._by_sound = {s: next(iter(ws)) for s, ws in by_sound.items() if len(ws) == 1}
        self._lengths = sorted({len(s) for s in self._by_sound}, reverse=True)
        self._by_pinyin = {"".join(s): w for s, w in self._by_sound.items()}
        self._known = set(words)

    def typos(self, text: str) -> List[Span]:
        """Substrings of ``text`` that sound like a knowledge-base word and are no word
        themselves, longest first, without overlaps."""
        spans: List[Span] = []
        for run in _CJK_RUN.finditer(text):
            # One reading of the whole run (pypinyin reads polyphones in context), sliced.
            sounds = _sound(run.group(0))
            if len(sounds) != len(run.group(0)):
                # A character without a reading is kept whole and would shift the slices.
                sounds = tuple(_sound(ch)[0] for ch in run.group(0))
            i, end = 0, len(sounds)
            while i < end:
                found = self._typo_at(run.group(0), sounds, i)
                if found is None:
                    i += 1
                    continue
                start, stop, word = found
                spans.append((run.start() + start, run.start() + stop, word))
                i = stop
        return spans

    def _typo_at(self, run: str, sounds: Tuple[str, ...], i: int) -> Optional[Span]:
        for length in self._lengths:
            if i + length > len(run) or length < MIN_TYPO_CHARS:
                continue
            written = run[i : i + length]
            word = self._by_sound.get(sounds[i : i + length])
            if word == written:
                return None  # the right word: no typo starts here
            if word is None or self._known_word(written):
                continue
            if any(a != b and a in FUNCTION_CHARS for a, b in zip(written, word)):
                continue
            if self._next_word_begins(written, word):
                continue
            return (i, i + length, word)
        return None

    def _next_word_begins(self, written: str, word: str) -> bool:
        """A known word followed (or preceded) by the first character of another word:
        "张家港十大…" is 张家港 and 十大, not 张家港市."""
        differ = [i for i, (a, b) in enumerate(zip(written, word)) if a != b]
        last = len(written) - 1
        return (differ == [last] and self._known_word(written[:-1])) or (
            differ == [0] and self._known_word(written[1:])
        )

    def _known_word(self, text: str) -> bool:
        return text in self._known or self._is_word(text)

    def pinyin(self, text: str) -> List[Span]:
        """Runs of ASCII words that spell a knowledge-base word in pinyin ("rencai",
        "ren cai", "lvka"), longest first."""
        words = list(_ASCII_WORD.finditer(text))
        spans: List[Span] = []
        k = 0
        while k < len(words):
            for n in range(min(MAX_ASCII_WORDS, len(words) - k), 0, -1):
                group = words[k : k + n]
                # Words of one run only: separated by spaces, nothing else.
                if any(text[a.end() : b.start()] != " " for a, b in zip(group, group[1:])):
                    continue
                spelt = "".join(m.group(0) for m in group).replace("v", "u")
                word = self._by_pinyin.get(spelt)
                if word is not None:
                    start = group[0].start()
                    if spans and spans[-1][1] == start - 1:
                        # "rencai lvka": one phrase in characters, as it would be typed.
                        start, word = spans[-1][0], spans.pop()[2] + word
                    spans.append((start, group[-1].end(), word))
                    k += n
                    break
            else:
                k += 1
        return spans
