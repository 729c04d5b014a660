"""The custom Rasa NLU components of config.yml, run on rasa Messages without training DIET."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import jieba
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.kb.loader import KnowledgeBase
from bot.kb.models import ASPECTS, REGIONS
from bot.nlu.fallback import ContentAwareFallbackClassifier
from bot.nlu.kb_linker import LEXICON_FILE, KBEntityLinker, Lexicon, Linker, build_lexicon
from bot.nlu.normalizer import NORMALIZATION_KEY, TextNormalizer
from bot.nlu.tokenizer import USER_DICT_FILE, KBJiebaTokenizer
from bot.text.normalize import normalize_text
from bot.text.tokenize import USER_WORD_FREQ

KB_DIR = Path(__file__).resolve().parents[2] / "policies_kb"
Graph = Tuple[LocalModelStorage, Resource, ExecutionContext]


@pytest.fixture()
def graph(tmp_path: Path) -> Graph:
    return (
        LocalModelStorage(tmp_path),
        Resource("x"),
        ExecutionContext(GraphSchema({}), "1"),
    )


# --- TextNormalizer --------------------------------------------------------------------


@pytest.fixture()
def normalizer(graph: Graph) -> TextNormalizer:
    config = TextNormalizer.get_default_config()
    return TextNormalizer.create(config, *graph)


def test_normalizer_process_rewrites_the_text_and_reports_it(normalizer: TextNormalizer) -> None:
    message = Message(data={"text": "張家港人才貸怎麼申請？？？"})
    normalizer.process([message])
    assert message.get("text") == "张家港人才贷怎么申请?"
    assert message.get(NORMALIZATION_KEY) == {"truncated": False, "original_length": 13}
    assert NORMALIZATION_KEY in message.output_properties


def test_normalizer_reports_truncation(graph: Graph) -> None:
    normalizer = TextNormalizer.create({"max_chars": 20}, *graph)
    message = Message(data={"text": "人才贷" * 10})
    normalizer.process([message])
    assert message.get("text") == ("人才贷" * 10)[:20]
    assert message.get(NORMALIZATION_KEY) == {"truncated": True, "original_length": 30}


def test_normalizer_marks_canonical_text_as_normalised(normalizer: TextNormalizer) -> None:
    message = Message(data={"text": "张家港人才贷怎么申请"})
    normalizer.process([message])
    assert message.get("text") == "张家港人才贷怎么申请"
    assert message.get(NORMALIZATION_KEY) == {"truncated": False, "original_length": 10}


@pytest.mark.parametrize(
    "payload", ['/ask_policy{"policy": "zjg_talent_loan"}', '/inform_region{"region": "海宁市"}']
)
def test_normalizer_leaves_payloads_alone(normalizer: TextNormalizer, payload: str) -> None:
    message = Message(data={"text": payload})
    normalizer.process([message])
    assert message.get("text") == payload
    assert message.get(NORMALIZATION_KEY) is None


def test_normalizer_ignores_messages_without_text(normalizer: TextNormalizer) -> None:
    message = Message(data={"intent": {"name": "greet"}})
    normalizer.process([message])
    assert message.get("text") is None


def _example(text: str, spans: List[Tuple[int, int, str]]) -> Message:
    entities = [
        {"start": start, "end": end, "entity": entity, "value": text[start:end]}
        for start, end, entity in spans
    ]
    return Message(data={"text": text, "intent": "ask_policy", "entities": entities})


@pytest.mark.parametrize(
    ("text", "spans", "expected_text", "expected_spans"),
    [
        (
            "請問  張家港的人才貸？？",
            [(4, 7, "region"), (8, 11, "policy")],
            "请问 张家港的人才贷?",
            [(3, 6), (7, 10)],
        ),
        ("  人\u200b才贷怎么申请", [(2, 6, "policy")], "人才贷怎么申请", [(0, 3)]),
        ("海宁人才公寓   ", [(0, 2, "region"), (2, 6, "policy")], "海宁人才公寓", [(0, 2), (2, 6)]),
        ("Ｇ４２＋改革是什么", [(0, 6, "policy")], "g42+改革是什么", [(0, 6)]),
        ("人才贷？？？多少钱", [(6, 9, "aspect")], "人才贷?多少钱", [(4, 7)]),
        (
            "人才贷\t\t\n怎么办",
            [(0, 3, "policy"), (6, 9, "aspect")],
            "人才贷 怎么办",
            [(0, 3), (4, 7)],
        ),
    ],
)
def test_training_entities_point_at_the_same_characters(
    normalizer: TextNormalizer,
    text: str,
    spans: List[Tuple[int, int, str]],
    expected_text: str,
    expected_spans: List[Tuple[int, int]],
) -> None:
    example = _example(text, spans)
    normalizer.process_training_data(TrainingData(training_examples=[example]))
    new_text = example.get("text")
    assert new_text == expected_text
    entities = example.get("entities")
    assert [(e["start"], e["end"]) for e in entities] == expected_spans
    for entity, (start, end, label) in zip(entities, spans):
        assert entity["entity"] == label
        assert new_text[entity["start"] : entity["end"]] == normalize_text(text[start:end])
    # Training data gets no inference-time annotation.
    assert example.get(NORMALIZATION_KEY) is None


def test_training_entities_beyond_the_cut_are_dropped(graph: Graph) -> None:
    normalizer = TextNormalizer.create({"max_chars": 8}, *graph)
    text = "人才贷怎么申请，张家港的"
    example = _example(text, [(0, 3, "policy"), (8, 11, "region")])
    normalizer.process_training_data(TrainingData(training_examples=[example]))
    assert example.get("text") == "人才贷怎么申请,"
    assert [(e["start"], e["end"], e["entity"]) for e in example.get("entities")] == [
        (0, 3, "policy")
    ]


def test_training_payload_examples_are_untouched(normalizer: TextNormalizer) -> None:
    example = Message(data={"text": "/greet", "intent": "greet"})
    normalizer.process_training_data(TrainingData(training_examples=[example]))
    assert example.get("text") == "/greet"


# --- KBJiebaTokenizer ------------------------------------------------------------------


def _tokenizer_config(kb_path: str) -> Dict[str, Any]:
    return {**KBJiebaTokenizer.get_default_config(), "kb_path": kb_path}


@pytest.fixture()
def tokenizer(graph: Graph) -> KBJiebaTokenizer:
    return KBJiebaTokenizer.create(_tokenizer_config(str(KB_DIR)), *graph)


def _tokens(tokenizer: KBJiebaTokenizer, text: str) -> List[str]:
    message = Message(data={"text": text})
    tokens = tokenizer.tokenize(message, "text")
    for token in tokens:
        assert text[token.start : token.end] == token.text
    return [token.text for token in tokens]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("张家港人才贷怎么申请", "人才贷"),
        ("攀峰计划有什么支持", "攀峰计划"),
        ("留学生创业园在哪里", "留学生创业园"),
        ("关爱九条是什么", "关爱九条"),
        ("人才一号母基金规模", "人才一号母基金"),
        ("住家公寓租赁公司电话", "住家公寓租赁公司"),
    ],
)
def test_tokenizer_keeps_kb_names_whole(tokenizer: KBJiebaTokenizer, text: str, name: str) -> None:
    assert name in _tokens(tokenizer, text)


def test_tokenizer_drops_whitespace_tokens(tokenizer: KBJiebaTokenizer) -> None:
    tokens = _tokens(tokenizer, "人才贷   怎么 申请")
    assert tokens
    assert all(token.strip() for token in tokens)


def test_tokenizer_gives_empty_text_one_token(tokenizer: KBJiebaTokenizer) -> None:
    assert len(tokenizer.tokenize(Message(data={"text": "   "}), "text")) == 1


def test_tokenizer_train_and_load_round_trip(graph: Graph, tokenizer: KBJiebaTokenizer) -> None:
    storage, resource, context = graph
    assert tokenizer.train(TrainingData()) == resource
    with storage.read_from(resource) as directory:
        lines = Path(directory, USER_DICT_FILE).read_text(encoding="utf-8").splitlines()
    assert f"攀峰计划 {USER_WORD_FREQ}" in lines
    assert f"留学生创业园 {USER_WORD_FREQ}" in lines

    word = "攀峰计划"
    jieba.del_word(word)
    try:
        assert word not in jieba.lcut("攀峰计划有什么支持")
        # The stored dictionary is enough: the knowledge base on disk is not read again.
        loaded = KBJiebaTokenizer.load(
            _tokenizer_config("/nonexistent/kb"), storage, resource, context
        )
        assert word in _tokens(loaded, "攀峰计划有什么支持")
    finally:
        jieba.add_word(word, freq=USER_WORD_FREQ)
    assert sorted(loaded._dictionary) == sorted(line for line in lines if line.strip())


# --- KBEntityLinker --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return build_lexicon(str(KB_DIR))


@pytest.fixture(scope="module")
def linker(lexicon: Lexicon) -> Linker:
    return Linker(lexicon)


def found(linker: Linker, text: str) -> List[Tuple[str, str, str]]:
    """(entity, value, surface text) for a raw text, normalised as the pipeline would."""
    text = normalize_text(text)
    return [
        (e["entity"], e["value"], text[e["start"] : e["end"]])
        for e in linker.entities(text, "test")
    ]


def test_lexicon_values(lexicon: Lexicon, kb: KnowledgeBase) -> None:
    assert set(lexicon) == {"policy", "region", "aspect", "other_place"}
    assert all(v in kb.entries for values in lexicon["policy"].values() for v in values)
    assert all(v in REGIONS for values in lexicon["region"].values() for v in values)
    assert all(v in ASPECTS for values in lexicon["aspect"].values() for v in values)
    assert lexicon["policy"]["人才贷"] == ["zjg_talent_loan"]
    assert sorted(lexicon["policy"]["子女入学"]) == ["hn_children_school", "zjg_children_schooling"]
    assert lexicon["region"]["港城"] == ["张家港市"]
    assert lexicon["aspect"]["需要什么材料"] == ["materials"]
    assert lexicon["other_place"]["上海"] == ["上海"]
    # Forms are normalised: "G42+" is matched as "g42+" after the normaliser lower-cases.
    assert lexicon["policy"]["g42+"] == ["zjg_g42_reform"]


def test_linker_finds_policy_region_and_aspect(linker: Linker) -> None:
    assert found(linker, "张家港人才贷怎么申请") == [
        ("region", "张家港市", "张家港"),
        ("policy", "zjg_talent_loan", "人才贷"),
        ("aspect", "process", "怎么申请"),
    ]


def test_linker_on_traditional_full_width_text(linker: Linker) -> None:
    entities = found(linker, "張家港Ｇ４２＋改革需要什麼材料？？")
    assert ("region", "张家港市", "张家港") in entities
    assert ("policy", "zjg_g42_reform", "g42+") in entities
    assert ("aspect", "materials", "需要什么材料") in entities


def test_linker_topic_of_both_cities_links_both(linker: Linker) -> None:
    assert sorted(v for e, v, _ in found(linker, "子女入学") if e == "policy") == [
        "hn_children_school",
        "zjg_children_schooling",
    ]


@pytest.mark.parametrize(
    ("text", "entity", "expected"),
    [
        # "人才购房补贴" is only Zhangjiagang's; "购房补贴" inside it must not add Haining's.
        ("人才购房补贴", "policy", [("zjg_housing_purchase_subsidy", "人才购房补贴")]),
        ("住家公寓租赁公司电话", "policy", [("hn_zhujia_rental", "住家公寓租赁公司")]),
        ("人才贷款利息", "policy", [("zjg_talent_loan", "人才贷款")]),
        # "认定标准" (conditions) wins over the "标准" (amounts) inside it.
        ("认定标准是什么", "aspect", [("conditions", "认定标准")]),
        ("需要什么材料", "aspect", [("materials", "需要什么材料")]),
        ("苏州张家港的政策", "region", [("张家港市", "苏州张家港")]),
    ],
)
def test_linker_longest_match_wins(
    linker: Linker, text: str, entity: str, expected: List[Tuple[str, str]]
) -> None:
    assert [(v, s) for e, v, s in found(linker, text) if e == entity] == expected


def test_linker_overlapping_labels_are_all_kept(linker: Linker) -> None:
    entities = found(linker, "张家港留创园在哪里")
    assert ("policy", "zjg_returnee_park", "张家港留创园") in entities
    assert ("region", "张家港市", "张家港") in entities
    assert ("aspect", "contact", "在哪里") in entities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("上海的人才公寓", ("other_place", "上海", "上海")),
        ("我在杭州工作", ("other_place", "杭州", "杭州")),
        ("港城的人才政策", ("region", "张家港市", "港城")),
        ("海宁这边怎么样", ("region", "海宁市", "海宁这边")),
    ],
)
def test_linker_places(linker: Linker, text: str, expected: Tuple[str, str, str]) -> None:
    assert expected in found(linker, text)


def test_linker_finds_nothing_in_unrelated_text(linker: Linker) -> None:
    assert found(linker, "今天天气不错") == []


def test_linker_entity_format(linker: Linker) -> None:
    entity = linker.entities("人才贷", "KBEntityLinker")[0]
    assert entity == {
        "entity": "policy",
        "value": "zjg_talent_loan",
        "start": 0,
        "end": 3,
        "confidence_entity": 1.0,
        "extractor": "KBEntityLinker",
    }


def test_entity_linker_component_train_load_process(graph: Graph) -> None:
    storage, resource, context = graph
    config = {**KBEntityLinker.get_default_config(), "kb_path": str(KB_DIR)}
    component = KBEntityLinker.create(config, storage, resource, context)
    untrained = Message(data={"text": "人才贷"})
    component.process([untrained])
    assert untrained.get("entities") is None

    assert component.train(TrainingData()) == resource
    with storage.read_from(resource) as directory:
        stored = json.loads(Path(directory, LEXICON_FILE).read_text(encoding="utf-8"))
    assert stored["policy"]["攀峰计划"] == ["zjg_panfeng"]

    loaded = KBEntityLinker.load(
        {**config, "kb_path": "/nonexistent/kb"}, storage, resource, context
    )
    existing = {"entity": "x", "value": "y", "start": 0, "end": 1}
    message = Message(data={"text": "张家港攀峰计划", "entities": [existing]})
    payload = Message(data={"text": '/ask_policy{"policy": "zjg_panfeng"}'})
    empty = Message(data={"text": ""})
    loaded.process([message, payload, empty])
    entities = message.get("entities")
    assert entities[0] == existing
    assert {(e["entity"], e["value"]) for e in entities[1:]} == {
        ("region", "张家港市"),
        ("policy", "zjg_panfeng"),
    }
    assert all(e["extractor"] == "KBEntityLinker" for e in entities[1:])
    assert "entities" in message.output_properties
    assert payload.get("entities") is None
    assert empty.get("entities") is None


def test_normalizer_then_linker(graph: Graph, normalizer: TextNormalizer, lexicon: Lexicon) -> None:
    storage, resource, _ = graph
    component = KBEntityLinker({"kb_path": str(KB_DIR)}, storage, resource, lexicon)
    message = Message(data={"text": "請問張家港人才貸最高能貸多少？？？"})
    component.process(normalizer.process([message]))
    values = {(e["entity"], e["value"]) for e in message.get("entities")}
    assert {("region", "张家港市"), ("policy", "zjg_talent_loan")} <= values
    assert ("aspect", "amounts") in values


# --- ContentAwareFallbackClassifier ----------------------------------------------------


@pytest.fixture()
def fallback(graph: Graph) -> ContentAwareFallbackClassifier:
    config = {
        **ContentAwareFallbackClassifier.get_default_config(),
        "threshold": 0.45,
        "ambiguity_threshold": 0.05,
    }
    return ContentAwareFallbackClassifier.create(config, *graph)


def _classified(text: str, intent: str = "ask_policy", confidence: float = 0.98) -> Message:
    ranking = [
        {"name": intent, "confidence": confidence},
        {"name": "greet", "confidence": round(1 - confidence, 4)},
    ]
    return Message(data={"text": text, "intent": ranking[0], "intent_ranking": ranking})


@pytest.mark.parametrize(
    "text", ["", " ", "👍", "🎉🎉🎉", "?", "...", "x" * 20, "哈" * 15, "ababababababab"]
)
def test_fallback_on_text_without_content_despite_a_confident_intent(
    fallback: ContentAwareFallbackClassifier, text: str
) -> None:
    message = _classified(normalize_text(text), "greet", 0.99)
    fallback.process([message])
    assert message.get("intent")["name"] == "nlu_fallback"
    assert message.get("intent_ranking")[0]["name"] == "nlu_fallback"


@pytest.mark.parametrize("text", ["人才贷怎么申请", "你好", "g42+", "好的"])
def test_no_fallback_on_real_text_with_a_confident_intent(
    fallback: ContentAwareFallbackClassifier, text: str
) -> None:
    message = _classified(text)
    fallback.process([message])
    assert message.get("intent")["name"] == "ask_policy"


def test_fallback_on_low_confidence_still_works(fallback: ContentAwareFallbackClassifier) -> None:
    message = _classified("人才贷怎么申请", confidence=0.3)
    fallback.process([message])
    assert message.get("intent")["name"] == "nlu_fallback"


def test_confident_payload_does_not_fall_back(fallback: ContentAwareFallbackClassifier) -> None:
    message = _classified('/inform_region{"region": "海宁市"}', "inform_region", 1.0)
    fallback.process([message])
    assert message.get("intent")["name"] == "inform_region"
