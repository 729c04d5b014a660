"""The intent ensemble component (bot.nlu.linear_classifier) on rasa Messages, without DIET."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import jieba
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.linear_classifier import RANKING_LENGTH, LinearEnsembleClassifier, combine

Graph = Tuple[LocalModelStorage, Resource, ExecutionContext]

TRAINING = {
    "ask_policy": ["海宁人才公寓怎么申请", "张家港人才贷能贷多少", "租房补贴要什么材料"],
    "greet": ["你好", "您好啊", "早上好", "在吗"],
    "thank": ["谢谢", "多谢你", "感谢帮忙", "太感谢了"],
}


@pytest.fixture()
def graph(tmp_path: Path) -> Graph:
    return LocalModelStorage(tmp_path), Resource("ensemble"), ExecutionContext(GraphSchema({}), "1")


def _message(text: str, intent: Optional[str] = None, ranking: Any = None) -> Message:
    tokens, offset = [], 0
    for word in jieba.cut(text):
        tokens.append(Token(word, offset))
        offset += len(word)
    data: Dict[str, Any] = {"text": text, TOKENS_NAMES["text"]: tokens}
    if intent:
        data["intent"] = intent
    if ranking is not None:
        data["intent_ranking"] = [{"name": n, "confidence": p} for n, p in ranking]
        data["intent"] = {"name": ranking[0][0], "confidence": ranking[0][1]}
    return Message(data=data)


def _training_data(intents: Dict[str, List[str]]) -> TrainingData:
    return TrainingData([_message(t, i) for i, texts in intents.items() for t in texts])


def _trained(graph: Graph, **config: Any) -> LinearEnsembleClassifier:
    component = LinearEnsembleClassifier.create(
        {**LinearEnsembleClassifier.get_default_config(), **config}, *graph
    )
    component.train(_training_data(TRAINING))
    return component


def test_combine_weights_both_rankings_and_counts_a_missing_intent_as_zero() -> None:
    ranking = combine([("a", 0.9), ("b", 0.1)], {"a": 0.2, "b": 0.5, "c": 0.3}, 0.3)
    assert [name for name, _ in ranking] == ["a", "b", "c"]
    scores = dict(ranking)
    assert scores["a"] == pytest.approx(0.3 * 0.9 + 0.7 * 0.2)
    assert scores["b"] == pytest.approx(0.3 * 0.1 + 0.7 * 0.5)
    assert scores["c"] == pytest.approx(0.7 * 0.3)


def test_combine_breaks_ties_by_name() -> None:
    assert [n for n, _ in combine([], {"b": 0.5, "a": 0.5}, 0.0)] == ["a", "b"]


def test_an_invalid_weight_is_refused(graph: Graph) -> None:
    with pytest.raises(ValueError, match="diet_weight"):
        LinearEnsembleClassifier.create({"diet_weight": 1.0}, *graph)


def test_process_sets_the_intent_and_a_ranking_that_sums_to_one(graph: Graph) -> None:
    component = _trained(graph, diet_weight=0.0)
    message = _message("谢谢你的帮忙")
    component.process([message])
    assert message.get("intent")["name"] == "thank"
    ranking = message.get("intent_ranking")
    assert len(ranking) == len(TRAINING) <= RANKING_LENGTH
    assert sum(item["confidence"] for item in ranking) == pytest.approx(1.0)
    assert ranking[0]["confidence"] == message.get("intent")["confidence"]
    assert {"intent", "intent_ranking"} <= set(message.output_properties)


def test_a_confident_first_ranking_can_outweigh_the_ngram_model(graph: Graph) -> None:
    # The n-gram model says thank; DIET's ranking (full weight but for a sliver) says greet.
    component = _trained(graph, diet_weight=0.99)
    message = _message("谢谢你的帮忙", ranking=[("greet", 1.0), ("thank", 0.0)])
    component.process([message])
    assert message.get("intent")["name"] == "greet"


def test_without_a_first_ranking_the_ngram_model_decides_alone(graph: Graph) -> None:
    component = _trained(graph, diet_weight=0.99)
    message = _message("谢谢你的帮忙")
    component.process([message])
    assert message.get("intent")["name"] == "thank"


@pytest.mark.parametrize("text", ["/greet", '/ask_policy{"policy": "hn_talent_apartment"}', ""])
def test_payloads_and_empty_text_keep_the_incoming_intent(graph: Graph, text: str) -> None:
    component = _trained(graph)
    message = Message(data={"text": text, "intent": {"name": "greet", "confidence": 1.0}})
    component.process([message])
    assert message.get("intent") == {"name": "greet", "confidence": 1.0}
    assert message.get("intent_ranking") is None


def test_train_persist_and_load_round_trip(graph: Graph) -> None:
    storage, resource, context = graph
    trained = _trained(graph)
    loaded = LinearEnsembleClassifier.load(
        LinearEnsembleClassifier.get_default_config(), storage, resource, context
    )
    first, second = _message("张家港的人才贷"), _message("张家港的人才贷")
    trained.process([first])
    loaded.process([second])
    expected, got = first.get("intent_ranking"), second.get("intent_ranking")
    assert [item["name"] for item in got] == [item["name"] for item in expected]
    assert [item["confidence"] for item in got] == pytest.approx(
        [item["confidence"] for item in expected]
    )
    assert second.get("intent")["name"] == "ask_policy"


def test_with_one_intent_there_is_no_model_and_the_first_result_passes(graph: Graph) -> None:
    storage, resource, context = graph
    component = LinearEnsembleClassifier.create({}, *graph)
    assert component.train(_training_data({"greet": TRAINING["greet"]})) == resource
    loaded = LinearEnsembleClassifier.load({}, storage, resource, context)
    message = _message("你好", ranking=[("greet", 0.8), ("thank", 0.2)])
    loaded.process([message])
    assert message.get("intent") == {"name": "greet", "confidence": 0.8}
