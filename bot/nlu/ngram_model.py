"""A linear intent model over word and character n-grams (tf-idf, multinomial logistic regression).

It is the second view beside DIET in the intent ensemble (`bot.nlu.linear_classifier`): character
n-grams run across jieba's word boundaries, so a mis-segmented, mistyped or colloquial phrase still
shares features with the training data, and its probabilities are smoother than DIET's (which is
either sure or wrong on unseen phrasings).

Features are computed by this module for training and prediction alike; scikit-learn only fits the
weights. The model is saved as JSON (vocabularies, labels) and an ``.npz`` of arrays, never pickled.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

MODEL_FILE = "ngram_model.json"
ARRAYS_FILE = "ngram_model.npz"
FORMAT_VERSION = 1


class ModelFormatError(Exception):
    """The saved model was written by another version of this module."""


def word_features(words: Iterable[str]) -> Counter:
    return Counter(w.lower() for w in words if w.strip())


def char_features(text: str, low: int, high: int) -> Counter:
    text = " ".join(text.lower().split())
    grams: Counter = Counter()
    for n in range(low, high + 1):
        for i in range(len(text) - n + 1):
            grams[text[i : i + n]] += 1
    return grams


@dataclass
class _Block:
    """One feature family: its vocabulary and inverse document frequencies."""

    index: Dict[str, int]
    idf: np.ndarray

    @classmethod
    def fit(cls, docs: Sequence[Counter]) -> _Block:
        df: Counter = Counter()
        for doc in docs:
            df.update(doc.keys())
        terms = sorted(df)
        n = len(docs)
        # scikit-learn's smoothed idf: as if one more document held every term.
        idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in terms])
        return cls({t: i for i, t in enumerate(terms)}, idf)

    def vector(self, doc: Counter) -> Tuple[np.ndarray, np.ndarray]:
        """Column indices and l2-normalised sublinear tf-idf values of the known terms."""
        pairs = [(self.index[t], c) for t, c in doc.items() if t in self.index]
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        cols = np.array([p[0] for p in pairs], dtype=np.int64)
        values = (1.0 + np.log([p[1] for p in pairs])) * self.idf[cols]
        return cols, values / np.linalg.norm(values)


@dataclass
class NgramIntentModel:
    labels: List[str]
    words: _Block
    chars: _Block
    char_range: Tuple[int, int]
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)

    @classmethod
    def fit(
        cls,
        examples: Sequence[Tuple[Sequence[str], str, str]],
        c: float,
        char_range: Tuple[int, int] = (1, 3),
        max_iter: int = 3000,
    ) -> NgramIntentModel:
        """Train on (words, text, intent) triples. Needs at least two intents."""
        from sklearn.linear_model import LogisticRegression

        word_docs = [word_features(w) for w, _, _ in examples]
        char_docs = [char_features(t, *char_range) for _, t, _ in examples]
        words, chars = _Block.fit(word_docs), _Block.fit(char_docs)
        labels = sorted({intent for _, _, intent in examples})
        model = cls(labels, words, chars, char_range, np.zeros((0, 0)), np.zeros(0))
        matrix = sp.vstack([model._row(w, ch) for w, ch in zip(word_docs, char_docs)]).tocsr()
        clf = LogisticRegression(C=c, max_iter=max_iter)
        clf.fit(matrix, [intent for _, _, intent in examples])
        order = [list(clf.classes_).index(label) for label in labels]
        coef, intercept = clf.coef_, clf.intercept_
        if len(labels) == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-1, 1]) * intercept / 2
        model.coef, model.intercept = coef[order], intercept[order]
        return model

    def _features(self, word_doc: Counter, char_doc: Counter) -> Tuple[np.ndarray, np.ndarray]:
        """Column indices and values of a message's features: words first, then characters."""
        wc, wv = self.words.vector(word_doc)
        cc, cv = self.chars.vector(char_doc)
        return np.concatenate([wc, cc + len(self.words.index)]), np.concatenate([wv, cv])

    def _row(self, word_doc: Counter, char_doc: Counter) -> sp.csr_matrix:
        cols, values = self._features(word_doc, char_doc)
        width = len(self.words.index) + len(self.chars.index)
        return sp.csr_matrix((values, (np.zeros(len(cols), dtype=np.int64), cols)), (1, width))

    def probabilities(self, words: Sequence[str], text: str) -> Dict[str, float]:
        cols, values = self._features(word_features(words), char_features(text, *self.char_range))
        scores = self.intercept + self.coef[:, cols] @ values
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        return {label: float(p) for label, p in zip(self.labels, scores)}

    def save(self, directory: Path) -> None:
        meta = {
            "format": FORMAT_VERSION,
            "labels": self.labels,
            "char_range": list(self.char_range),
            "words": sorted(self.words.index, key=self.words.index.__getitem__),
            "chars": sorted(self.chars.index, key=self.chars.index.__getitem__),
        }
        Path(directory, MODEL_FILE).write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        np.savez_compressed(
            Path(directory, ARRAYS_FILE),
            word_idf=self.words.idf,
            char_idf=self.chars.idf,
            coef=self.coef,
            intercept=self.intercept,
        )

    @classmethod
    def load(cls, directory: Path) -> NgramIntentModel:
        meta = json.loads(Path(directory, MODEL_FILE).read_text("utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ModelFormatError(f"{MODEL_FILE}: unknown format {meta.get('format')!r}; retrain")
        with np.load(Path(directory, ARRAYS_FILE), allow_pickle=False) as arrays:
            words = _Block({t: i for i, t in enumerate(meta["words"])}, arrays["word_idf"])
            chars = _Block({t: i for i, t in enumerate(meta["chars"])}, arrays["char_idf"])
            low, high = meta["char_range"]
            return cls(
                list(meta["labels"]),
                words,
                chars,
                (int(low), int(high)),
                arrays["coef"],
                arrays["intercept"],
            )
