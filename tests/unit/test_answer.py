"""bot.kb.answer: the replies the citizen reads."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, List, Optional

import pytest

from bot.kb.answer import (
    MAX_BUTTONS,
    MAX_REPLY_CHARS,
    AnswerComposer,
    Reply,
    _split,
    aspect_buttons,
    basis_line,
    display_title,
    payload,
)
from bot.kb.loader import KnowledgeBase
from bot.kb.models import ASPECTS, PolicyEntry
from bot.kb.resolve import Kind, Resolution
from bot.kb.service import PolicyService

CheckButtons = Callable[..., None]  # the `check_buttons` fixture of conftest.py


@pytest.fixture(scope="module")
def composer(service: PolicyService) -> AnswerComposer:
    return service.composer


def compose(
    composer: AnswerComposer,
    entry: PolicyEntry,
    aspect: Optional[str] = None,
    **extra: Any,
) -> List[Reply]:
    aspects = (aspect,) if aspect else ()
    return composer.compose(Resolution(Kind.ANSWER, entry=entry, aspects=aspects, **extra))


def joined(replies: List[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


def assert_well_formed(replies: List[Reply], check_buttons: CheckButtons) -> None:
    assert replies
    for reply in replies:
        assert reply.text.strip()
        assert len(reply.text) <= MAX_REPLY_CHARS, reply.text
    # Buttons belong under the last reply only.
    for reply in replies[:-1]:
        assert reply.buttons == []
    check_buttons(replies[-1].buttons, max_buttons=MAX_BUTTONS)


# --- overview --------------------------------------------------------------------------


def test_overview_has_title_summary_amounts_and_basis(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = kb.entries["zjg_talent_loan"]
    text = joined(compose(composer, entry))
    assert text.startswith("【张家港“人才贷”】\n")
    assert entry.summary in text
    # A fact the summary already says is not repeated below it; the others are.
    assert "· 单笔最高可达3000万元。" not in text
    assert "· 无抵押、无担保，是纯信用贷款。" in text
    assert (
        "依据：现有资料未列明具体政策文件，信息来源于《破解县域人才瓶颈的张家港实践》"
        "（示例数据，具体以张家港市主管部门最新发布为准）"
    ) in text
    # The answer comes first, the basis last.
    assert text.index(entry.summary) < text.index("依据：")


def test_overview_basis_names_the_documents_in_book_title_marks(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    text = joined(compose(composer, kb.entries["hn_talent_apartment"]))
    assert (
        "依据：《海宁市人才公寓建设规划(2017-2020)》（示例数据，具体以海宁市主管部门最新发布为准）"
        in text
    )
    entry = kb.entries["zjg_children_schooling"]
    assert len(entry.basis) == 2
    line = basis_line(entry)
    assert line.startswith("依据：" + "".join(f"《{doc}》" for doc in entry.basis))
    assert line in joined(compose(composer, entry))


def test_overview_shows_at_most_three_supporting_facts_and_no_background(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = dataclasses.replace(
        kb.entries["zjg_talent_loan"],
        amounts=("甲100万元。", "乙200万元。"),
        conditions=("丙条件。", "丁条件。"),
    )
    text = joined(compose(composer, entry))
    assert "· 甲100万元。" in text and "· 乙200万元。" in text and "· 丙条件。" in text
    assert "丁条件" not in text
    assert entry.background and not any(fact in text for fact in entry.background)


def test_sample_note_only_for_sample_entries(kb: KnowledgeBase) -> None:
    entry = kb.entries["hn_talent_apartment"]
    assert "示例数据" in basis_line(entry)
    assert "示例数据" not in basis_line(dataclasses.replace(entry, sample=False))


@pytest.mark.parametrize(
    ("entry_id", "expected"),
    [
        ("zjg_talent_loan", "张家港“人才贷”"),
        ("zjg_housing_purchase_subsidy", "张家港市高层次人才购房补贴"),
        ("hn_children_school", "海宁市引进人才子女就学"),
        ("hn_talent_apartment", "海宁人才公寓"),
    ],
)
def test_display_title_names_the_city_once(kb: KnowledgeBase, entry_id: str, expected: str) -> None:
    assert display_title(kb.entries[entry_id]) == expected


def test_every_entry_and_aspect_composes_well_formed_replies(
    composer: AnswerComposer, kb: KnowledgeBase, check_buttons: CheckButtons
) -> None:
    for entry in kb:
        overview = compose(composer, entry)
        assert_well_formed(overview, check_buttons)
        text = joined(overview)
        assert entry.summary in text, entry.id
        for doc in entry.basis:
            assert f"《{doc}》" in text, entry.id
        if not entry.basis:
            assert f"《{entry.source.document}》" in text, entry.id
        for aspect in ASPECTS:
            replies = compose(composer, entry, aspect)
            assert_well_formed(replies, check_buttons)
            payloads = [b["payload"] for b in replies[-1].buttons]
            assert not any(f'"aspect": "{aspect}"' in p for p in payloads), (entry.id, aspect)


# --- aspects ---------------------------------------------------------------------------


def test_conditions_start_with_the_audience(composer: AnswerComposer, kb: KnowledgeBase) -> None:
    entry = kb.entries["zjg_talent_loan"]
    lines = joined(compose(composer, entry, "conditions")).split("\n")
    assert lines[0] == "张家港“人才贷”的申请条件："
    assert lines[1] == f"1. 适用对象：{entry.audience}"
    assert lines[2] == f"2. {entry.conditions[0]}"
    assert lines[3] == f"3. {entry.conditions[1]}"
    assert lines[-1] == basis_line(entry)


@pytest.mark.parametrize(
    ("entry_id", "aspect", "expected"),
    [
        ("zjg_talent_loan", "amounts", "单笔最高可达3000万元"),
        ("zjg_talent_loan", "process", "最快3天放款"),
        ("zjg_panfeng", "amounts", "最高4700万元"),
        ("hn_one_stop_platform", "contact", "1. "),
        ("zjg_returnee_park", "process", "1. "),
    ],
)
def test_aspect_answer_lists_the_items(
    composer: AnswerComposer, kb: KnowledgeBase, entry_id: str, aspect: str, expected: str
) -> None:
    entry = kb.entries[entry_id]
    text = joined(compose(composer, entry, aspect))
    assert f"的{ASPECTS[aspect].label}：" in text
    assert expected in text
    for i, item in enumerate(entry.aspect_items(aspect), 1):
        assert f"{i}. {item}" in text
    assert "现有资料暂未载明" not in text


def test_empty_aspect_says_so_and_names_the_contact(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = kb.entries["zjg_talent_loan"]
    assert entry.materials == () and entry.contact
    text = joined(compose(composer, entry, "materials"))
    assert "现有资料暂未载明张家港“人才贷”的所需材料" in text
    assert "建议您咨询：" in text
    assert entry.contact[0].rstrip("。") in text
    assert "1. " not in text  # nothing made up


def test_empty_aspect_without_contact_names_the_city_office(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = kb.entries["hn_financing"]
    assert entry.materials == () and entry.contact == ()
    text = joined(compose(composer, entry, "materials"))
    assert "现有资料暂未载明" in text
    assert "海宁市人力资源和社会保障局（人才服务相关窗口）" in text


def test_empty_aspect_has_no_doubled_full_stop(composer: AnswerComposer, kb: KnowledgeBase) -> None:
    assert "。。" not in joined(compose(composer, kb.entries["zjg_talent_loan"], "materials"))


def test_basis_aspect_with_documents_cites_the_source(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = kb.entries["hn_talent_apartment"]
    text = joined(compose(composer, entry, "basis"))
    assert "海宁人才公寓的政策依据：" in text
    assert basis_line(entry) in text
    assert f"信息来源：《{entry.source.document}》{entry.source.section}" in text


def test_basis_aspect_without_documents_says_so(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = kb.entries["zjg_talent_loan"]
    text = joined(compose(composer, entry, "basis"))
    assert "现有资料未列明具体政策文件" in text
    assert f"《{entry.source.document}》" in text


def test_detail_answer_quotes_the_matching_sentences(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = kb.entries["zjg_talent_loan"]
    text = joined(compose(composer, entry, detail_terms=("抵押",)))
    assert text.startswith("关于张家港“人才贷”：")
    assert "无抵押、无担保，是纯信用贷款。" in text
    assert basis_line(entry) in text


def test_detail_without_matching_sentence_falls_back_to_the_overview(
    composer: AnswerComposer, kb: KnowledgeBase
) -> None:
    entry = kb.entries["zjg_talent_loan"]
    text = joined(compose(composer, entry, detail_terms=("红烧肉",)))
    assert text.startswith("【张家港“人才贷”】")


def test_answer_for_another_city_says_so_first(composer: AnswerComposer, kb: KnowledgeBase) -> None:
    replies = compose(composer, kb.entries["zjg_talent_loan"], missing_region="海宁市")
    assert replies[0].text.startswith(
        "知识库中暂未收录海宁市的此项政策，以下是张家港市的相关信息："
    )


# --- long answers ----------------------------------------------------------------------


@pytest.fixture()
def long_entry(kb: KnowledgeBase) -> PolicyEntry:
    conditions = tuple(f"第{i}条：" + "条件内容" * 22 for i in range(1, 13))  # ~92 chars each
    return dataclasses.replace(
        kb.entries["zjg_talent_loan"], conditions=conditions, materials=("材" * 700,)
    )


def test_long_aspect_answer_is_split_without_losing_or_cutting_lines(
    composer: AnswerComposer, long_entry: PolicyEntry, check_buttons: CheckButtons
) -> None:
    replies = compose(composer, long_entry, "conditions")
    assert len(replies) > 1
    assert_well_formed(replies, check_buttons)
    for i, item in enumerate(long_entry.conditions, 2):
        line = f"{i}. {item}"
        # Each line is whole inside exactly one reply.
        assert sum(line in reply.text.split("\n") for reply in replies) == 1, line
    assert replies[-1].text.endswith(basis_line(long_entry))


def test_line_longer_than_a_reply_is_cut_into_pieces(
    composer: AnswerComposer, long_entry: PolicyEntry, check_buttons: CheckButtons
) -> None:
    replies = compose(composer, long_entry, "materials")
    assert_well_formed(replies, check_buttons)
    assert "".join(reply.text.replace("\n", "") for reply in replies).count("材") == 700 + 1


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], []),
        (["短句"], ["短句"]),
        (["a" * 300], ["a" * 300]),
        (["a" * 150, "b" * 149], ["a" * 150 + "\n" + "b" * 149]),
        (["a" * 150, "b" * 150], ["a" * 150, "b" * 150]),
        (["a" * 650], ["a" * 300, "a" * 300, "a" * 50]),
        (["x", "a" * 301, "y"], ["x", "a" * 300, "a\ny"]),
    ],
)
def test_split(lines: List[str], expected: List[str]) -> None:
    assert _split(lines) == expected
    assert all(len(message) <= MAX_REPLY_CHARS for message in _split(lines))


# --- buttons and the other kinds of reply ------------------------------------------------


def test_payload_is_rasa_syntax_with_readable_json() -> None:
    assert payload("request_human") == "/request_human"
    text = payload("ask_policy", policy="zjg_talent_loan", aspect="amounts")
    assert text == '/ask_policy{"policy": "zjg_talent_loan", "aspect": "amounts"}'
    region = payload("inform_region", region="海宁市")
    assert "海宁市" in region
    assert json.loads(region[len("/inform_region") :]) == {"region": "海宁市"}


def test_aspect_buttons(kb: KnowledgeBase, check_buttons: CheckButtons) -> None:
    entry = kb.entries["zjg_talent_loan"]
    buttons = aspect_buttons(entry)
    check_buttons(buttons, max_buttons=MAX_BUTTONS)
    titles = [b["title"] for b in buttons]
    assert titles == ["申请条件", "标准和金额", "办理流程", "办理地点和联系方式"]
    assert "政策依据" not in titles
    # An aspect the entry does not document gets no button: it would lead to an empty reply.
    bare = dataclasses.replace(kb.entries["hn_financing"], contact=())
    assert [b["title"] for b in aspect_buttons(bare)] == ["申请条件"]
    assert [b["title"] for b in aspect_buttons(entry, exclude=("conditions",))] == [
        "标准和金额",
        "办理流程",
        "办理地点和联系方式",
    ]


def test_ask_region_reply(
    composer: AnswerComposer, kb: KnowledgeBase, check_buttons: CheckButtons
) -> None:
    candidates = (kb.entries["zjg_housing_purchase_subsidy"], kb.entries["hn_housing_subsidy"])
    replies = composer.compose(Resolution(Kind.ASK_REGION, candidates=candidates))
    assert len(replies) == 1
    assert "购房补贴" in replies[0].text and "哪个城市" in replies[0].text
    check_buttons(replies[0].buttons)
    assert sorted(b["title"] for b in replies[0].buttons) == ["张家港市", "海宁市"]
    assert all(b["payload"].startswith("/inform_region{") for b in replies[0].buttons)


def test_choose_reply_carries_the_aspect(
    composer: AnswerComposer, kb: KnowledgeBase, check_buttons: CheckButtons
) -> None:
    candidates = tuple(
        kb.entries[i]
        for i in (
            "zjg_rent_subsidy",
            "zjg_housing_purchase_subsidy",
            "zjg_talent_courtesy",
            "zjg_panfeng",
        )
    )
    replies = composer.compose(Resolution(Kind.CHOOSE, candidates=candidates, aspects=("amounts",)))
    buttons = replies[0].buttons
    check_buttons(buttons)
    assert len(buttons) == 3
    assert buttons[0]["title"] == "张家港市高层次人才租房补贴"
    assert all('"aspect": "amounts"' in b["payload"] for b in buttons)


@pytest.mark.parametrize(
    ("resolution", "words"),
    [
        (Resolution(Kind.OUT_OF_AREA), ["只提供海宁市和张家港市"]),
        (Resolution(Kind.NEED_TOPIC, aspects=("conditions",)), ["哪一项政策"]),
        (Resolution(Kind.NONE), ["没有找到", "转人工"]),
        (Resolution(Kind.NONE, missing_region="海宁市"), ["暂未收录海宁市"]),
    ],
)
def test_other_replies(
    composer: AnswerComposer, check_buttons: CheckButtons, resolution: Resolution, words: List[str]
) -> None:
    replies = composer.compose(resolution)
    assert len(replies) == 1
    for word in words:
        assert word in replies[0].text
    assert replies[0].buttons
    check_buttons(replies[0].buttons)
