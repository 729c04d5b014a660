"""bot.kb.resolve: which entry a question is about, or what to ask back."""

from __future__ import annotations

from typing import Any, Callable, Dict

import pytest

from bot.kb.loader import KnowledgeBase
from bot.kb.resolve import Kind, Question, Resolution
from bot.kb.service import PolicyService
from bot.text.normalize import normalize_text

Ask = Callable[..., Resolution]  # the `ask` fixture of conftest.py


def answer_text(service: PolicyService, resolution: Resolution) -> str:
    return "\n".join(reply.text for reply in service.composer.compose(resolution))


def assert_answer(resolution: Resolution, entry_id: str) -> None:
    assert resolution.kind is Kind.ANSWER, resolution
    assert resolution.entry is not None
    assert resolution.entry.id == entry_id


# --- retrieval alone (nothing linked) --------------------------------------------------


def test_a_weak_match_is_no_answer_when_the_nlu_doubts_the_question(
    ask: Ask, service: PolicyService
) -> None:
    from bot.kb.resolve import DOUBT, DOUBTFUL_COVERAGE, MIN_COVERAGE
    from bot.text.normalize import normalize_text

    question = "海宁皮革城几点关门"  # shares a word or two with an entry, asks something else
    terms = service.search.topic_terms(normalize_text(question))
    best = service.search.rank(terms)[0]
    assert MIN_COVERAGE <= service.search.coverage(best.entry, terms) < DOUBTFUL_COVERAGE
    assert ask(question).kind is Kind.ANSWER  # the NLU was sure: the best match is answered
    assert ask(question, doubt=DOUBT).kind is Kind.NONE
    # A match that covers the question is answered however doubtful the NLU was.
    assert_answer(ask("人才贷要什么条件", doubt=0.45), "zjg_talent_loan")


@pytest.mark.parametrize(
    ("question", "context", "expected"),
    [
        ("张家港人才贷", {"region": "张家港市"}, "zjg_talent_loan"),
        ("人才贷要什么条件", {}, "zjg_talent_loan"),
        ("海宁人才公寓怎么申请", {"region": "海宁市"}, "hn_talent_apartment"),
        ("留学生创业园", {}, "zjg_returnee_park"),
        ("攀峰计划", {}, "zjg_panfeng"),
        ("关爱九条", {}, "zjg_care_nine"),
        ("人才一号母基金规模多大", {}, "zjg_talent_fund"),
        ("海宁人才绿卡", {"region": "海宁市"}, "hn_green_card"),
        ("購房補貼", {"known_region": "海宁市"}, "hn_housing_subsidy"),
        ("购房补贴", {"region": "张家港市"}, "zjg_housing_purchase_subsidy"),
    ],
)
def test_retrieval_answers_realistic_questions(
    ask: Ask, question: str, context: Dict[str, Any], expected: str
) -> None:
    assert_answer(ask(question, **context), expected)


def test_topic_in_both_cities_without_a_city_asks_the_city(ask: Ask) -> None:
    resolution = ask("购房补贴")
    assert resolution.kind is Kind.ASK_REGION
    ids = [entry.id for entry in resolution.candidates]
    assert {"hn_housing_subsidy", "zjg_housing_purchase_subsidy"} <= set(ids)
    assert {entry.region for entry in resolution.candidates} == {"海宁市", "张家港市"}


def test_ask_region_keeps_the_aspect(ask: Ask) -> None:
    resolution = ask("子女入学需要什么条件", aspect="conditions")
    assert resolution.kind is Kind.ASK_REGION
    assert resolution.aspect == "conditions"


def test_known_city_answers_without_asking(ask: Ask) -> None:
    assert_answer(ask("子女入学", known_region="张家港市"), "zjg_children_schooling")
    assert_answer(ask("子女入学", known_region="海宁市"), "hn_children_school")


def test_city_named_now_wins_over_the_remembered_one(ask: Ask) -> None:
    resolution = ask("张家港购房补贴", region="张家港市", known_region="海宁市")
    assert_answer(resolution, "zjg_housing_purchase_subsidy")


def test_close_candidates_in_one_city_offer_a_choice(ask: Ask, kb: KnowledgeBase) -> None:
    resolution = ask("技能人才")
    assert resolution.kind is Kind.CHOOSE
    assert 2 <= len(resolution.candidates) <= 3
    assert "zjg_skill_upgrade" in {e.id for e in resolution.candidates}


@pytest.mark.parametrize(
    "question", ["帮我写一首诗", "红烧肉怎么做", "明天会下雨吗", "足球比赛几点开始", "你是谁"]
)
def test_unrelated_text_finds_nothing(ask: Ask, question: str) -> None:
    resolution = ask(question)
    assert resolution.kind is Kind.NONE
    assert resolution.entry is None


@pytest.mark.parametrize("question", ["今天天气怎么样", "这个怎么样"])
def test_small_talk_with_a_stopword_inside_a_word_finds_nothing(ask: Ask, question: str) -> None:
    # No policy is offered: either nothing fits, or the assistant asks which topic is meant.
    assert ask(question).kind in (Kind.NONE, Kind.NEED_TOPIC)


def test_aspect_without_any_topic_asks_for_the_topic(ask: Ask) -> None:
    resolution = ask("申请条件是什么", aspect="conditions")
    assert resolution.kind is Kind.NEED_TOPIC
    assert resolution.aspect == "conditions"


def test_empty_question_asks_for_the_topic(ask: Ask) -> None:
    assert ask("").kind is Kind.NEED_TOPIC


# --- linked entities -------------------------------------------------------------------


def test_linked_entry_is_answered(ask: Ask) -> None:
    resolution = ask(
        "张家港人才贷怎么申请", linked=["zjg_talent_loan"], region="张家港市", aspect="process"
    )
    assert_answer(resolution, "zjg_talent_loan")
    assert resolution.aspect == "process"
    # The words that pick the facts, not the words of the name.
    assert not {"人才贷", "张家港"} & set(resolution.detail_terms)


def test_linked_entries_of_both_cities_ask_the_city(ask: Ask) -> None:
    resolution = ask("子女入学", linked=["hn_children_school", "zjg_children_schooling"])
    assert resolution.kind is Kind.ASK_REGION
    assert {e.id for e in resolution.candidates} == {"hn_children_school", "zjg_children_schooling"}


@pytest.mark.parametrize(
    ("region", "expected"),
    [("海宁市", "hn_children_school"), ("张家港市", "zjg_children_schooling")],
)
def test_linked_entries_filtered_by_city(ask: Ask, region: str, expected: str) -> None:
    linked = ["hn_children_school", "zjg_children_schooling"]
    assert_answer(ask("子女入学", linked=linked, region=region), expected)
    assert_answer(ask("子女入学", linked=linked, known_region=region), expected)


def test_linked_entry_of_the_city_named_elsewhere_says_so(ask: Ask, service: PolicyService) -> None:
    # Haining named, asking about a Zhangjiagang-only programme.
    resolution = ask("海宁有人才贷吗", linked=["zjg_talent_loan"])
    assert_answer(resolution, "zjg_talent_loan")
    assert resolution.missing_region == "海宁市"
    assert "暂未收录海宁市" in answer_text(service, resolution)


def test_a_remembered_city_does_not_cover_the_programme_named_now(
    ask: Ask, service: PolicyService
) -> None:
    # Haining remembered from earlier; the message names a Zhangjiagang programme and no city:
    # that programme is answered, without a "not in Haining" line.
    resolution = ask("人才贷", linked=["zjg_talent_loan"], known_region="海宁市")
    assert_answer(resolution, "zjg_talent_loan")
    assert resolution.missing_region is None
    assert "暂未收录" not in answer_text(service, resolution)


def test_a_city_inside_a_programme_name_is_the_city_named(ask: Ask, service: PolicyService) -> None:
    # "海宁人才公寓" after a Zhangjiagang question: Haining is named, inside the name.
    resolution = ask(
        "海宁人才公寓怎么申请", linked=["hn_talent_apartment"], known_region="张家港市"
    )
    assert_answer(resolution, "hn_talent_apartment")
    assert "暂未收录" not in answer_text(service, resolution)


def test_programme_of_the_other_city_is_not_replaced_by_an_unrelated_entry(ask: Ask) -> None:
    resolution = ask("海宁攀峰计划", linked=["zjg_panfeng"], region="海宁市")
    assert resolution.kind in (Kind.ANSWER, Kind.NONE)
    if resolution.kind is Kind.ANSWER:
        assert resolution.entry is not None
        assert resolution.entry.id == "zjg_panfeng"
        assert resolution.missing_region == "海宁市"


def test_pending_city_question_answered_with_a_city(ask: Ask) -> None:
    pending = ["zjg_housing_purchase_subsidy", "hn_housing_subsidy"]
    resolution = ask("海宁", region="海宁市", pending=pending, aspect="conditions")
    assert_answer(resolution, "hn_housing_subsidy")
    assert resolution.aspect == "conditions"
    resolution = ask("张家港的", region="张家港市", pending=pending)
    assert_answer(resolution, "zjg_housing_purchase_subsidy")


# --- follow-ups ------------------------------------------------------------------------


def test_follow_up_detail_about_the_current_policy(ask: Ask, service: PolicyService) -> None:
    resolution = ask("那要抵押吗", current_policy="zjg_talent_loan", known_region="张家港市")
    assert_answer(resolution, "zjg_talent_loan")
    assert resolution.follow_up
    assert any("抵押" in term for term in resolution.detail_terms)
    assert "无抵押" in answer_text(service, resolution)


def test_follow_up_aspect_about_the_current_policy(ask: Ask) -> None:
    resolution = ask(
        "需要什么材料",
        aspect="materials",
        current_policy="hn_talent_apartment",
        known_region="海宁市",
    )
    assert_answer(resolution, "hn_talent_apartment")
    assert resolution.aspect == "materials"
    assert resolution.follow_up


def test_new_topic_replaces_the_current_policy(ask: Ask) -> None:
    resolution = ask("留学生创业园在哪", current_policy="zjg_talent_loan", known_region="张家港市")
    assert_answer(resolution, "zjg_returnee_park")
    assert not resolution.follow_up


@pytest.mark.parametrize(
    ("text", "region", "current", "expected"),
    [
        ("那张家港呢", "张家港市", "hn_housing_subsidy", "zjg_housing_purchase_subsidy"),
        ("那海宁呢", "海宁市", "zjg_housing_purchase_subsidy", "hn_housing_subsidy"),
        ("張家港呢？", "张家港市", "hn_children_school", "zjg_children_schooling"),
        ("海宁的呢", "海宁市", "zjg_spouse_employment", "hn_foreign_family_job"),
    ],
)
def test_same_topic_in_the_other_city(
    ask: Ask, text: str, region: str, current: str, expected: str
) -> None:
    other = "海宁市" if region == "张家港市" else "张家港市"
    resolution = ask(text, region=region, current_policy=current, known_region=other)
    assert_answer(resolution, expected)
    assert resolution.entry is not None and resolution.entry.region == region


def test_same_city_named_again_keeps_the_current_policy(ask: Ask) -> None:
    resolution = ask(
        "张家港呢", region="张家港市", current_policy="zjg_talent_loan", known_region="张家港市"
    )
    assert_answer(resolution, "zjg_talent_loan")


@pytest.mark.parametrize("current", ["zjg_panfeng", "zjg_care_nine", "zjg_g42_reform"])
def test_topic_missing_in_the_other_city_is_said_so(ask: Ask, current: str) -> None:
    resolution = ask("那海宁呢", region="海宁市", current_policy=current, known_region="张家港市")
    assert resolution.kind is Kind.NONE
    assert resolution.missing_region == "海宁市"


def test_answer_about_a_missing_topic_names_the_city(service: PolicyService) -> None:
    resolution = Resolution(Kind.NONE, missing_region="海宁市")
    assert "暂未收录海宁市" in answer_text(service, resolution)


# --- places the assistant does not cover -----------------------------------------------


def test_other_place_is_out_of_area(ask: Ask) -> None:
    resolution = ask("上海有什么人才政策", other_place="上海")
    assert resolution.kind is Kind.OUT_OF_AREA
    assert resolution.entry is None


def test_other_place_with_a_covered_city_is_answered(ask: Ask) -> None:
    # "我从上海来张家港" names a covered city: answer for it.
    resolution = ask(
        "我从上海来张家港，人才贷怎么申请",
        other_place="上海",
        region="张家港市",
        linked=["zjg_talent_loan"],
        aspect="process",
    )
    assert_answer(resolution, "zjg_talent_loan")


# vocabulary.yml: a question about an uncovered place is "never [answered] with another
# city's policy", even when the linker also found one of our entries in it.
@pytest.mark.parametrize(
    ("text", "place", "linked"),
    [
        ("上海的人才公寓", "上海", ["hn_talent_apartment"]),
        ("杭州有购房补贴吗", "杭州", ["hn_housing_subsidy", "zjg_housing_purchase_subsidy"]),
    ],
)
def test_other_place_with_a_linked_policy_is_out_of_area(
    ask: Ask, text: str, place: str, linked: Any
) -> None:
    assert ask(text, other_place=place, linked=linked).kind is Kind.OUT_OF_AREA


# --- follow-ups and near ties ----------------------------------------------------------


def test_a_follow_up_naming_the_current_entry_stays_with_it(ask: Ask) -> None:
    # "领军" is a word of 领军人才走访's names, and of none of 人才绿卡's (ranked first).
    resolution = ask(
        "那不是领军人才的人能参加吗", current_policy="hn_leader_liaison", known_region="海宁市"
    )
    assert_answer(resolution, "hn_leader_liaison")
    assert resolution.follow_up


@pytest.mark.parametrize(
    ("question", "current", "region", "expected"),
    [
        # "补贴" is in both entries' names, "买房" (购房) only in the other one's.
        ("那买房的补贴呢", "zjg_rent_subsidy", "张家港市", "zjg_housing_purchase_subsidy"),
        # "领军" names the current entry, but "绿卡" names another.
        ("那领军人才的绿卡怎么办", "hn_leader_liaison", "海宁市", "hn_green_card"),
    ],
)
def test_a_follow_up_naming_another_entry_moves_to_it(
    ask: Ask, question: str, current: str, region: str, expected: str
) -> None:
    assert_answer(ask(question, current_policy=current, known_region=region), expected)


def test_a_name_said_in_other_words_settles_a_near_tie(ask: Ask) -> None:
    # All words of "高层次人才认定", not in that order: no choice to make.
    assert_answer(ask("张家港高层次人才是怎么认定的"), "zjg_high_level_talent_recognition")


# --- two programmes, ellipsis, comparisons (citizen-style answers) ------------------------


def test_two_programmes_named_together_are_answered_side_by_side(
    ask: Ask, service: PolicyService
) -> None:
    res = ask(
        "张家港购房补贴和租房补贴各有多少人拿到了",
        linked=["zjg_housing_purchase_subsidy", "zjg_rent_subsidy"],
    )
    assert res.kind is Kind.LIST
    assert [e.id for e in res.candidates] == ["zjg_housing_purchase_subsidy", "zjg_rent_subsidy"]
    text = answer_text(service, res)
    assert "266人" in text and "384人" in text  # each answered for what was asked of both


def test_a_name_both_programmes_share_still_offers_a_choice(ask: Ask) -> None:
    res = ask("张家港人才补贴", linked=["zjg_housing_purchase_subsidy", "zjg_rent_subsidy"])
    assert res.kind is not Kind.LIST


def test_na_ne_asks_the_previous_question_of_the_new_topic(
    ask: Ask, service: PolicyService
) -> None:
    res = ask(
        "那租房的呢",
        previous_text="张家港购房补贴发了多少人",
        current_policy="zjg_housing_purchase_subsidy",
        known_region="张家港市",
    )
    assert_answer(res, "zjg_rent_subsidy")
    assert "384人" in answer_text(service, res)


def test_a_city_alone_is_no_ellipsis_of_a_topic(service: PolicyService) -> None:
    # "那海宁呢" is asked again for the city (Resolver._asked_again_elsewhere), not as a topic.
    context = {"previous_text": "张家港人才贷最多贷多少", "current_policy": "zjg_talent_loan"}
    city = service.resolver.read(Question(text=normalize_text("那海宁呢"), **context))
    topic = service.resolver.read(Question(text=normalize_text("那租房的呢"), **context))
    assert not city.ellipsis and not city.aspects
    assert topic.ellipsis and topic.aspects == ("amounts",)


def test_comparing_cities_on_what_one_has_says_the_other_has_none(ask: Ask) -> None:
    res = ask("海宁和张家港的人才公寓有什么区别")
    assert_answer(res, "hn_talent_apartment")
    assert res.missing_region == "张家港市"


def test_a_comparisons_own_words_are_not_its_topic(ask: Ask) -> None:
    res = ask("两个城市对创业的支持谁力度大")
    assert res.kind is Kind.LIST
    assert "zjg_returnee_park" in [e.id for e in res.candidates]


def test_a_list_about_one_programme_lists_the_facts_of_that_kind(
    ask: Ask, service: PolicyService
) -> None:
    res = ask("海宁一站式人才服务平台有哪些功能", linked=["hn_one_stop_platform"])
    assert "政策咨询" in answer_text(service, res)


def test_a_follow_up_the_classifier_could_not_place_asks_about_the_policy(
    service: PolicyService,
) -> None:
    assert service.follows_up("zjg_talent_fund", normalize_text("怎么运作的"))
    assert not service.follows_up("zjg_talent_fund", normalize_text("今天天气不错"))
    assert not service.follows_up(None, normalize_text("怎么运作的"))
