"""Word segmentation for retrieval: jieba with the knowledge base's own words.

A private ``jieba.Tokenizer`` (not jieba's global one) so that the action server's retrieval
does not depend on what other code loaded into jieba.
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, Iterable, List, Optional, Set

import jieba

# jieba logs its dictionary loading at INFO on its own handler; keep start-up output clean.
jieba.setLogLevel(logging.WARNING)

# Frequency given to domain words so that jieba keeps them whole ("人才贷", "攀峰计划").
USER_WORD_FREQ = 200000
# Words whose sub-words are remembered (a word's sub-words only change with the dictionary).
SUBWORD_CACHE_SIZE = 20000


class Segmenter:
    """Segments normalised text into words, keeping the registered domain words whole."""

    def __init__(self, words: Iterable[str] = (), stopwords: Iterable[str] = ()) -> None:
        self._jieba = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._stopwords: Set[str] = set(stopwords)
        self._subwords: Dict[str, List[str]] = {}
        with self._lock:
            self._jieba.initialize()
            for word in words:
                self._add(word)

    def _add(self, word: str) -> None:
        word = word.strip()
        if len(word) >= 2 and " " not in word:
            self._jieba.add_word(word, freq=USER_WORD_FREQ)

    def add_words(self, words: Iterable[str]) -> None:
        with self._lock:
            for word in words:
                self._add(word)
            self._subwords = {}

    def _parts(self, word: str) -> List[str]:
        """jieba's search-mode pieces of a word (its sub-words and the word itself)."""
        parts = self._subwords.get(word)
        if parts is None:
            parts = self._jieba.lcut_for_search(word)
            if len(self._subwords) >= SUBWORD_CACHE_SIZE:
                self._subwords = {}
            self._subwords[word] = parts
        return parts

    def is_word(self, text: str) -> bool:
        """Whether jieba's dictionary (with the added words) knows ``text`` as a word."""
        return bool(self._jieba.FREQ.get(text))

    def words(self, text: str) -> List[str]:
        """All words, punctuation and whitespace removed."""
        pieces = self._jieba.lcut(text, HMM=True)
        return [p for p in (piece.strip() for piece in pieces) if p and any(c.isalnum() for c in p)]

    def terms(self, text: str, extra_stopwords: Optional[Set[str]] = None) -> List[str]:
        """What retrieval matches on: the words without stopwords, the sub-words of long words
        ("人才购房补贴" also gives "购房", "补贴"), and character bigrams of each run of kept
        Chinese words, marked with BIGRAM_MARK.

        Bigrams make matching independent of where jieba happened to cut in context
        ("是一企一策吗" → 是一/企一策, while the entry has 一企/一策) and survive a typo in one
        character of a longer word.
        """
        stop = self._stopwords | (extra_stopwords or set())
        out: List[str] = []
        run = ""
        for word in self.words(text):
            if word in stop:
                out.extend(_bigrams(run, stop))
                run = ""
                continue
            out.append(word)
            if len(word) >= 3:
                out.extend(
                    w for w in self._parts(word) if w != word and len(w) >= 2 and w not in stop
                )
            if all(_is_cjk(ch) for ch in word):
                run += word
            else:
                out.extend(_bigrams(run, stop))
                run = ""
        out.extend(_bigrams(run, stop))
        return out


BIGRAM_MARK = "~"


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _bigrams(run: str, stop: Set[str]) -> List[str]:
    pairs = (run[i : i + 2] for i in range(len(run) - 1))
    return [BIGRAM_MARK + pair for pair in pairs if pair not in stop]
