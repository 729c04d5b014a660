"""How questions are read and answered the way citizens write them (issue: answers that hold
up on real wording). Each case is a message a citizen sends, with what the reply must do."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import pytest

from bot.kb.loader import KBValidationError, load_kb
from bot.kb.reading import QuestionReader
from bot.kb.resolve import Kind
from bot.kb.service import PolicyService
from bot.text.normalize import normalize_text

from .conftest import Ask


@pytest.fixture(scope="module")
def reader(service: PolicyService) -> QuestionReader:
    return service.resolver.reader


def read(reader: QuestionReader, service: PolicyService, text: str):  # type: ignore[no-untyped-def]
    return reader.read(normalize_text(text, spellings=service.spellings))


@pytest.mark.parametrize(
    ("text", "aspects"),
    [
        ("我想咨询张家港人才贷要什么条件", ("conditions",)),
        ("了解一下海宁人才公寓", ()),
        ("请问人才贷怎么申请", ("process",)),
        ("张家港人才贷要不要抵押，多久能放款，要带什么材料", ("process", "materials")),
        ("人才贷在哪里办，电话多少", ("contact", "amounts")),
    ],
)
def test_aspects_are_read_from_the_question_not_the_openers(
    reader: QuestionReader, service: PolicyService, text: str, aspects: tuple
) -> None:
    assert read(reader, service, text).aspects == aspects


def test_an_aspect_word_inside_a_name_is_part_of_the_name(service: PolicyService) -> None:
    kb = service.kb
    entry = dataclasses.replace(kb.entries["zjg_talent_loan"], aliases=("人才贷窗口",))
    entries = [entry if e.id == entry.id else e for e in kb]
    reader = QuestionReader(type(kb)(entries, kb.vocabulary))
    assert reader.read("人才贷窗口是什么").aspects == ()
    assert reader.read("人才贷窗口在哪").aspects == ("contact",)


@pytest.mark.parametrize(
    ("text", "regions", "wants_list", "compares"),
    [
        ("海宁人才公寓怎么申请", ("海宁市",), False, False),
        ("有什么补贴", (), True, False),
        ("我是博士，海宁和张家港哪个好", ("海宁市", "张家港市"), False, True),
        ("不是海宁，是张家港的", ("张家港市",), False, False),
        ("rencaidai in zjg", ("张家港市",), False, False),
    ],
)
def test_cities_lists_and_comparisons(
    reader: QuestionReader,
    service: PolicyService,
    text: str,
    regions: tuple,
    wants_list: bool,
    compares: bool,
) -> None:
    reading = read(reader, service, text)
    assert (reading.regions, reading.wants_list, reading.compares) == (
        regions,
        wants_list,
        compares,
    )


def test_list_question_lists_entries_of_both_cities(ask: Ask, service: PolicyService) -> None:
    resolution = ask("有什么补贴")
    assert resolution.kind is Kind.LIST
    assert {e.region for e in resolution.candidates} == {"海宁市", "张家港市"}
    replies = service.composer.compose(resolution)
    text = "\n".join(r.text for r in replies)
    assert "【海宁市】" in text and "【张家港市】" in text
    assert all(b["payload"].startswith("/ask_policy") for b in replies[-1].buttons)


def test_list_in_the_remembered_city_only(ask: Ask) -> None:
    resolution = ask("有哪些补贴", known_region="海宁市")
    assert resolution.kind in (Kind.LIST, Kind.ANSWER)
    entries = resolution.candidates or (resolution.entry,)
    assert {e.region for e in entries} == {"海宁市"}


def test_comparison_lists_both_cities(ask: Ask) -> None:
    resolution = ask("我是博士，海宁和张家港哪个对博士更好")
    assert resolution.kind is Kind.LIST
    assert {e.region for e in resolution.candidates} == {"海宁市", "张家港市"}


def test_a_correction_asks_the_previous_question_for_the_other_city(ask: Ask) -> None:
    resolution = ask(
        "不对，我说的是张家港", previous_text="海宁人才贷最多贷多少", known_region="海宁市"
    )
    assert resolution.kind is Kind.ANSWER
    assert resolution.entry.id == "zjg_talent_loan"
    assert "amounts" in resolution.aspects


def test_the_same_question_for_the_other_city(ask: Ask) -> None:
    resolution = ask(
        "那海宁呢",
        previous_text="张家港子女入学怎么安排",
        current_policy="zjg_children_schooling",
        known_region="张家港市",
    )
    assert resolution.kind is Kind.ANSWER
    assert resolution.entry.id == "hn_children_school"


def test_the_fact_asked_leads_from_whichever_field_holds_it(
    ask: Ask, service: PolicyService
) -> None:
    resolution = ask("海宁人才看病能去哪些好医院", known_region="海宁市")
    text = "\n".join(r.text for r in service.composer.compose(resolution))
    assert "长海医院" in text or "附属第一医院" in text
    assert not text.startswith("现有资料暂未载明")


def test_background_never_leads_an_overview(service: PolicyService) -> None:
    entry = service.kb.entries["zjg_talent_loan"]
    assert entry.background
    from bot.kb.resolve import Resolution

    text = "\n".join(r.text for r in service.composer.compose(Resolution(Kind.ANSWER, entry=entry)))
    assert not any(fact in text for fact in entry.background)


def test_background_is_quoted_when_asked_for(ask: Ask, service: PolicyService) -> None:
    resolution = ask("张家港人才贷余额总量有多少", known_region="张家港市")
    text = "\n".join(r.text for r in service.composer.compose(resolution))
    assert "46.3亿" in text


def test_two_aspects_in_one_message_are_both_answered(ask: Ask, service: PolicyService) -> None:
    resolution = ask("张家港人才贷要不要抵押，多久能放款", linked=["zjg_talent_loan"])
    text = "\n".join(r.text for r in service.composer.compose(resolution))
    assert "无抵押" in text and "最快3天放款" in text


def test_aspect_buttons_only_for_aspects_with_content(ask: Ask, service: PolicyService) -> None:
    for entry in service.kb:
        replies = service.composer.compose(ask(entry.title, linked=[entry.id]))
        for button in replies[-1].buttons:
            if '"aspect"' in button["payload"]:
                key = button["payload"].split('"aspect": "')[1].split('"')[0]
                assert entry.has_aspect(key), (entry.id, key)


def loan_only_kb(tmp_path: Path, loan: Callable[[str], str]) -> Path:
    """A knowledge base of the vocabulary and the loan entry, its text changed by ``loan``."""
    root = Path(__file__).resolve().parents[2] / "policies_kb"
    target = tmp_path / "kb"
    (target / "zhangjiagang").mkdir(parents=True)
    (target / "vocabulary.yml").write_text((root / "vocabulary.yml").read_text("utf-8"), "utf-8")
    text = (root / "zhangjiagang" / "zjg_talent_loan.yml").read_text("utf-8")
    (target / "zhangjiagang" / "zjg_talent_loan.yml").write_text(loan(text), "utf-8")
    return target


def test_a_fact_marked_as_background_and_elsewhere_is_refused(tmp_path: Path) -> None:
    target = loan_only_kb(
        tmp_path,
        lambda t: t.replace("background:\n", "background:\n  - 单笔最高可达3000万元。\n", 1),
    )
    with pytest.raises(KBValidationError) as caught:
        load_kb(target)
    assert "zjg_talent_loan.yml: 字段 background[0]" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "entities", "evidence"),
    [
        ("孩子上学怎么解决", [], "retrieval"),
        ("随便问问", [{"entity": "policy", "value": "zjg_talent_loan"}], "name"),
        ("今天天气怎么样", [], None),
        ("南京的人才公寓怎么申请", [{"entity": "other_place", "value": "南京"}], None),
    ],
)
def test_scope_is_decided_by_knowledge_base_evidence(
    text: str, entities: list, evidence: object
) -> None:
    from bot.nlu.scope import kb_evidence

    assert kb_evidence(normalize_text(text), entities) == evidence


def test_a_field_written_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    target = loan_only_kb(tmp_path, lambda t: t + "background:\n  - 另一条\n")
    with pytest.raises(KBValidationError) as caught:
        load_kb(target)
    assert "zjg_talent_loan.yml" in str(caught.value) and "字段 background 重复" in str(
        caught.value
    )


def test_two_programmes_in_one_message_get_one_answer_each(service: PolicyService) -> None:
    from bot.kb.resolve import Question

    text = normalize_text("海宁人才绿卡发给谁？健康体检又是给谁的")
    parts = service.resolver.resolve_parts(Question(text=text, linked=("hn_green_card",)))
    assert [r.entry.id for r in parts if r.entry] == ["hn_green_card", "hn_health_checkup"]
    one = service.resolver.resolve_parts(
        Question(
            text=normalize_text("张家港人才贷要不要抵押，多久能放款"), linked=("zjg_talent_loan",)
        )
    )
    assert len(one) == 1  # two aspects of one programme: one answer


def test_the_policy_question_beside_a_status_request_is_kept() -> None:
    from bot.applications.describe import asks_status, policy_clauses

    assert policy_clauses("我的购房补贴批下来没有，另外人才公寓怎么申请") == "人才公寓怎么申请"
    assert policy_clauses("HN-2024-00103 0003") == ""
    assert asks_status("人才公寓怎么申请，我的申请批下来没有")
    assert not asks_status("张家港人才贷怎么申请")


def test_a_follow_up_the_classifier_refused_continues_the_policy(service: PolicyService) -> None:
    assert service.continues("zjg_targeted_recruitment", normalize_text("半导体那块效果咋样"))
    assert not service.continues("zjg_talent_loan", normalize_text("今天天气怎么样"))
    assert not service.continues(None, normalize_text("半导体那块效果咋样"))


def test_a_follow_up_with_the_citizens_situation_stays_on_the_programme(ask: Ask) -> None:
    resolution = ask(
        "那我一个普通本科生能领吗", current_policy="hn_green_card", known_region="海宁市"
    )
    assert resolution.kind is Kind.ANSWER and resolution.entry.id == "hn_green_card"
    assert "conditions" in resolution.aspects


def test_the_policy_clause_beside_a_status_clause_is_what_is_answered(ask: Ask) -> None:
    from bot.applications.describe import policy_clauses

    text = policy_clauses(normalize_text("我的购房补贴批下来没有？另外海宁人才绿卡发给谁"))
    resolution = ask(text, linked=["hn_green_card"])
    assert resolution.entry.id == "hn_green_card"


def test_a_general_list_question_lists_the_featured_programmes_first(ask: Ask) -> None:
    resolution = ask("你们都有哪些政策")
    assert resolution.kind is Kind.LIST
    assert [e.id for e in resolution.candidates][:1] == ["zjg_talent_loan"]
    assert "hn_housing_subsidy" in {e.id for e in resolution.candidates}
