"""The linear n-gram intent model of the intent ensemble (bot.nlu.ngram_model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Sequence, Tuple

import jieba
import numpy as np
import pytest

from bot.nlu.ngram_model import (
    MODEL_FILE,
    ModelFormatError,
    NgramIntentModel,
    char_features,
    word_features,
)

TEXTS = {
    "ask_policy": [
        "海宁人才公寓怎么申请",
        "张家港人才贷能贷多少",
        "租房补贴要什么材料",
        "博士购房补贴有多少钱",
        "子女入学怎么安排",
        "人才绿卡怎么办理",
    ],
    "greet": ["你好", "您好啊", "早上好", "哈喽", "在吗", "嗨"],
    "thank": ["谢谢", "多谢你", "谢谢啦", "感谢帮忙", "太感谢了", "谢了"],
}


def _example(text: str, intent: str) -> Tuple[List[str], str, str]:
    return list(jieba.cut(text)), text, intent


def _examples(intents: Sequence[str]) -> List[Tuple[List[str], str, str]]:
    return [_example(t, i) for i in intents for t in TEXTS[i]]


def _predict(model: NgramIntentModel, text: str) -> str:
    probabilities = model.probabilities(list(jieba.cut(text)), text)
    return max(probabilities, key=probabilities.__getitem__)


@pytest.fixture(scope="module")
def model() -> NgramIntentModel:
    return NgramIntentModel.fit(_examples(list(TEXTS)), c=100.0)


def test_char_features_cross_word_boundaries_and_collapse_spaces() -> None:
    grams = char_features("人才  贷", 1, 2)
    assert grams["人才"] == 1 and grams["才 "] == 1 and grams[" 贷"] == 1
    assert "  " not in grams


def test_word_features_lowercase_and_skip_blanks() -> None:
    assert word_features(["OK", "ok", " ", "人才"]) == {"ok": 2, "人才": 1}


def test_probabilities_cover_every_label_and_sum_to_one(model: NgramIntentModel) -> None:
    probabilities = model.probabilities(list(jieba.cut("人才公寓")), "人才公寓")
    assert set(probabilities) == set(TEXTS)
    assert sum(probabilities.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "intent"),
    [("海宁的人才贷怎么申请", "ask_policy"), ("您好", "greet"), ("非常感谢", "thank")],
)
def test_it_classifies_unseen_phrasings(model: NgramIntentModel, text: str, intent: str) -> None:
    assert _predict(model, text) == intent


def test_a_text_of_unknown_words_gets_the_prior_not_an_error(model: NgramIntentModel) -> None:
    probabilities = model.probabilities(["qqq"], "qqq")
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert max(probabilities.values()) < 0.9


def test_two_intents_give_two_complementary_rows() -> None:
    binary = NgramIntentModel.fit(_examples(["greet", "thank"]), c=100.0)
    assert binary.coef.shape[0] == 2
    assert _predict(binary, "您好") == "greet"
    assert _predict(binary, "非常感谢") == "thank"


def test_save_and_load_give_the_same_probabilities(model: NgramIntentModel, tmp_path: Path) -> None:
    model.save(tmp_path)
    loaded = NgramIntentModel.load(tmp_path)
    for text in ("人才贷要抵押吗", "谢谢", "在吗？"):
        words = list(jieba.cut(text))
        expected, got = model.probabilities(words, text), loaded.probabilities(words, text)
        assert got.keys() == expected.keys()
        assert np.allclose(list(got.values()), list(expected.values()))


def test_a_model_of_another_format_is_refused(model: NgramIntentModel, tmp_path: Path) -> None:
    model.save(tmp_path)
    meta = json.loads((tmp_path / MODEL_FILE).read_text("utf-8"))
    meta["format"] = 99
    (tmp_path / MODEL_FILE).write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelFormatError, match="retrain"):
        NgramIntentModel.load(tmp_path)
