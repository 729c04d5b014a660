"""Normalise what users type before anything else reads it.

Citizens type traditional characters, full-width letters and punctuation, runs of "？？？" and
whitespace, emoji, or paste whole documents. Everything downstream (jieba, the entity linker,
retrieval) sees one canonical form. The mapping back to the original offsets is kept so that
entity annotations in training data stay valid.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

from bot.text.sounds import SoundIndex

# Long enough for any real question, short enough that featurising stays cheap.
MAX_MESSAGE_CHARS = 500
# Key of the parse data where the NLU normaliser says what it did (read by the actions).
NORMALIZATION_KEY = "text_normalization"

_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
# Emoji and their modifiers carry no words: a question with emoji is read without them.
_EMOJI_PARTS = {"\ufe0e", "\ufe0f", "\u20e3"}
_PUNCT_RE = re.compile(r"[\W_]", re.UNICODE)
# Sentence marks whose runs carry no meaning ("？？？", "?!", "。。。", "~~~").
_TERMINAL_MARKS = set("?!.,;:~。，、；：…")


@functools.lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


@dataclass(frozen=True)
class Normalized:
    """A normalised text with, for each of its characters, the index in the original."""

    text: str
    offsets: Tuple[int, ...]
    original_length: int
    truncated: bool

    def original_span(self, start: int, end: int) -> Tuple[int, int]:
        """Maps a span of the normalised text back to the original text."""
        if start >= len(self.offsets):
            return self.original_length, self.original_length
        orig_start = self.offsets[start]
        orig_end = self.offsets[end - 1] + 1 if end > start else orig_start
        return orig_start, orig_end


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese, character count preserved.

    OpenCC converts phrase by phrase; when a phrase conversion changes the length we convert
    character by character instead, so offsets stay one to one.
    """
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    chars = []
    for ch in text:
        single = _t2s().convert(ch)
        chars.append(single if len(single) == 1 else ch)
    return "".join(chars)


def _is_emoji(ch: str, category: str) -> bool:
    """Emoji, pictographs and their modifiers (not ASCII symbols such as ^ or `)."""
    if ch in _EMOJI_PARTS:
        return True
    return category in ("So", "Sk") and not ch.isascii() and ord(ch) >= 0x2190


def _is_punct(ch: str) -> bool:
    return bool(_PUNCT_RE.match(ch)) and not ch.isspace()


def _collapses(previous: str, current: str) -> bool:
    """A repeated punctuation mark, or a mix of sentence marks, folds into its first."""
    if previous == current:
        return True
    return previous in _TERMINAL_MARKS and current in _TERMINAL_MARKS


MAX_REPEAT = 3


def _repeats_too_often(out_chars: List[str], ch: str) -> bool:
    """A letter other than ASCII (a Chinese character, an emoji) already repeated MAX_REPEAT
    times; digits and ASCII are kept, "0000" can be the digits of a phone number."""
    if ch.isascii() or ch.isdigit() or len(out_chars) < MAX_REPEAT:
        return False
    return all(c == ch for c in out_chars[-MAX_REPEAT:])


class Spellings:
    """Variant spellings rewritten to a standard form (the knowledge base's ``spellings``):
    English and pinyin words match whole words only, Chinese variants anywhere; longer
    variants win. With ``sounds``, the knowledge base's words typed in pinyin or as homophone
    typos are restored too (bot.text.sounds)."""

    def __init__(self, table: Mapping[str, str], sounds: Optional[SoundIndex] = None) -> None:
        self.table = dict(table)
        self.sounds = sounds
        parts = []
        for variant in sorted(self.table, key=len, reverse=True):
            escaped = re.escape(variant)
            # Whole words only, and never inside an identifier ("ZJG-2024-00202" is an
            # application number, not 张家港).
            ascii_word = f"(?<![a-z0-9_-]){escaped}(?![a-z0-9_-])"
            parts.append(ascii_word if variant.isascii() else escaped)
        self._pattern = re.compile("|".join(parts)) if parts else None

    def apply(self, norm: Normalized) -> Normalized:
        if self.sounds is not None:
            # Pinyin first, so that a phrase spelt out ("haining rencai lvka") becomes one.
            norm = _rewrite(norm, self.sounds.pinyin(norm.text))
        if self._pattern is not None:
            spans = [
                (m.start(), m.end(), self.table[m.group(0)])
                for m in self._pattern.finditer(norm.text)
            ]
            norm = _rewrite(norm, spans)
        if self.sounds is not None:
            norm = _rewrite(norm, self.sounds.typos(norm.text))
        return norm


def _rewrite(norm: Normalized, spans: Sequence[Tuple[int, int, str]]) -> Normalized:
    """``norm`` with each (start, end) span replaced by its standard form; the standard form
    maps back onto the span's whole original extent (first character to its start, last to
    its end)."""
    if not spans:
        return norm
    chars: List[str] = []
    offsets: List[int] = []
    last = 0
    for start, end, standard in spans:
        chars.extend(norm.text[last:start])
        offsets.extend(norm.offsets[last:start])
        chars.extend(standard)
        last_i = len(standard) - 1
        offsets.extend(
            norm.offsets[end - 1 if i == last_i else min(start + i, end - 1)]
            for i in range(len(standard))
        )
        last = end
    chars.extend(norm.text[last:])
    offsets.extend(norm.offsets[last:])
    return Normalized("".join(chars), tuple(offsets), norm.original_length, norm.truncated)


def normalize(
    text: str, max_chars: int = MAX_MESSAGE_CHARS, spellings: Optional[Spellings] = None
) -> Normalized:
    """Returns the canonical form of a user message.

    Steps: drop control and zero-width characters; traditional to simplified; full-width to
    half-width (NFKC, per character); lower-case Latin letters; collapse runs of whitespace to
    one space and runs of punctuation to their first character; keep at most 3 of a repeated
    non-ASCII character; trim; cut to ``max_chars``.
    """
    if text is None:
        text = ""
    simplified = to_simplified(text)
    out_chars: List[str] = []
    out_offsets: List[int] = []
    for index, ch in enumerate(simplified):
        if ch in _ZERO_WIDTH:
            continue
        category = unicodedata.category(ch)
        if category == "Cc" and ch not in "\t\n\r":
            continue
        if _is_emoji(ch, category) and not (spellings and ch in spellings.table):
            # Emoji carry no words, except those the vocabulary reads as one ("🏠" 房子).
            ch = " "
        if category in ("Cs", "Co", "Cn"):
            continue
        folded = unicodedata.normalize("NFKC", ch)
        # NFKC may expand a character ("…" -> "..."); keep such expansions, they map back
        # to the same original index.
        for sub in folded.lower():
            if sub.isspace():
                if not out_chars or out_chars[-1] == " ":
                    continue
                sub = " "
            elif out_chars and _is_punct(sub) and _collapses(out_chars[-1], sub):
                # "？？" or "?!" -> keep the first; a space between keeps both.
                continue
            elif _repeats_too_often(out_chars, sub):
                # "请请请请……" or "哈哈哈哈哈": noise that would outweigh the real words.
                continue
            out_chars.append(sub)
            out_offsets.append(index)
    # Trim leading and trailing spaces.
    while out_chars and out_chars[-1] == " ":
        out_chars.pop()
        out_offsets.pop()
    start = 0
    while start < len(out_chars) and out_chars[start] == " ":
        start += 1
    out_chars, out_offsets = out_chars[start:], out_offsets[start:]
    truncated = len(out_chars) > max_chars
    if truncated:
        out_chars, out_offsets = out_chars[:max_chars], out_offsets[:max_chars]
    result = Normalized(
        text="".join(out_chars),
        offsets=tuple(out_offsets),
        original_length=len(text),
        truncated=truncated,
    )
    return spellings.apply(result) if spellings is not None else result


def normalize_text(
    text: str, max_chars: int = MAX_MESSAGE_CHARS, spellings: Optional[Spellings] = None
) -> str:
    """Shorthand for :func:`normalize` when only the text is needed."""
    return normalize(text, max_chars, spellings).text


def is_payload(text: str) -> bool:
    """True for Rasa button payloads (``/intent{...}``), which must reach Rasa unchanged."""
    return text.lstrip().startswith("/")


# A message this long made of at most this many distinct characters carries no question.
MONOTONE_LENGTH = 12
MONOTONE_DISTINCT = 2


def has_content(text: str) -> bool:
    """True when a normalised text has words: letters, digits or Chinese characters, and is
    not a long run of one or two characters ("xxxxxxxx…")."""
    if not any(ch.isalnum() for ch in text):
        return False
    compact = [ch for ch in text if not ch.isspace()]
    if len(set(compact)) == 1 and len(compact) >= MAX_REPEAT and not compact[0].isascii():
        # One character repeated: what normalize() leaves of "哈哈哈哈哈…".
        return False
    return not (len(compact) >= MONOTONE_LENGTH and len(set(compact)) <= MONOTONE_DISTINCT)
