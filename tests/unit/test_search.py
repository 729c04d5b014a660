"""bot.kb.search and bot.text.tokenize: ranked retrieval over the real knowledge base."""

from __future__ import annotations

from typing import List, Optional

import jieba
import pytest

from bot.kb.loader import KnowledgeBase
from bot.kb.search import KBSearch, domain_words, entry_sentences
from bot.kb.service import PolicyService
from bot.text.normalize import normalize_text


@pytest.fixture(scope="session")
def search(service: PolicyService) -> KBSearch:
    return service.search


def top(search: KBSearch, text: str, region: Optional[str] = None) -> List[str]:
    terms = search.topic_terms(normalize_text(text))
    return [hit.entry.id for hit in search.rank(terms, region=region)]


# --- segmentation ----------------------------------------------------------------------


def test_domain_words_cover_names_cities_and_aspects(kb: KnowledgeBase) -> None:
    words = domain_words(kb)
    for word in (
        "人才贷",
        "攀峰计划",
        "留学生创业园",
        "关爱九条",
        "张家港",
        "港城",
        "申请条件",
        "上海",
    ):
        assert word in words
    assert all(len(word) >= 2 for word in words)
    assert words == sorted(set(words))


@pytest.fixture(scope="module")
def plain_jieba() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


@pytest.mark.parametrize(
    "name", ["人才贷", "攀峰计划", "关爱九条", "留学生创业园", "人才一号母基金", "住家公寓租赁公司"]
)
def test_segmenter_keeps_kb_names_whole(
    search: KBSearch, plain_jieba: jieba.Tokenizer, name: str
) -> None:
    # Plain jieba splits these names: the domain words are what keeps them whole.
    assert plain_jieba.lcut(name) != [name]
    assert name in search.segmenter.words(f"请问{name}怎么申请")


def test_segmenter_ignores_words_added_to_global_jieba(search: KBSearch) -> None:
    jieba.add_word("人才贷怎么", freq=10**9)
    try:
        assert "人才贷" in search.segmenter.words("人才贷怎么申请")
    finally:
        jieba.del_word("人才贷怎么")


def test_segmenter_words_drop_punctuation_and_whitespace(search: KBSearch) -> None:
    words = search.segmenter.words("人才贷 ，怎么申请? !")
    assert words
    assert all(word.strip() and any(ch.isalnum() for ch in word) for word in words)


def test_terms_drop_stopwords(search: KBSearch) -> None:
    terms = search.segmenter.terms("请问我想了解一下人才贷")
    assert "人才贷" in terms
    for stopword in ("请问", "我", "想", "了解", "一下"):
        assert stopword not in terms


def test_terms_add_sub_words_of_long_words(search: KBSearch) -> None:
    assert {"购房", "补贴"} <= set(search.segmenter.terms("人才购房补贴"))


def test_topic_terms_leave_out_city_and_aspect_words(search: KBSearch) -> None:
    terms = search.topic_terms(normalize_text("张家港人才贷需要什么材料"))
    assert "人才贷" in terms
    for word in ("张家港", "需要什么材料", "材料"):
        assert word not in terms


# --- ranking ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("张家港人才贷", "zjg_talent_loan"),
        ("人才贷最多能贷多少", "zjg_talent_loan"),
        ("張家港人才貸怎麼申請", "zjg_talent_loan"),
        ("人材贷", "zjg_talent_loan"),  # the typo is an alias
        ("海宁人才公寓怎么申请", "hn_talent_apartment"),
        ("留学生创业园在哪里", "zjg_returnee_park"),
        ("留学生创业圆", "zjg_returnee_park"),  # typo in the last character
        ("攀峰计划是什么", "zjg_panfeng"),
        ("攀锋计划", "zjg_panfeng"),
        ("关爱九条有哪些内容", "zjg_care_nine"),
        ("人才一号母基金", "zjg_talent_fund"),
        ("人才绿卡有什么用", "hn_green_card"),
        ("浙大一院", "hn_hospital_zju1"),
        ("人才举荐制", "zjg_talent_recommendation"),
        ("住家公寓", "hn_zhujia_rental"),
        ("技能等级自主评价", "zjg_skill_self_evaluation"),
        ("智汇港城人才工程", "zjg_zhihui_gangcheng"),
    ],
)
def test_rank_finds_the_right_entry(search: KBSearch, question: str, expected: str) -> None:
    ids = top(search, question)
    assert ids, question
    assert ids[0] == expected, ids


@pytest.mark.parametrize(
    ("question", "region", "expected"),
    [
        ("子女入学", "海宁市", "hn_children_school"),
        ("子女入学", "张家港市", "zjg_children_schooling"),
        ("购房补贴", "海宁市", "hn_housing_subsidy"),
        ("购房补贴", "张家港市", "zjg_housing_purchase_subsidy"),
        ("配偶就业", "海宁市", "hn_foreign_family_job"),
        ("配偶就业", "张家港市", "zjg_spouse_employment"),
    ],
)
def test_rank_filters_by_region(
    search: KBSearch, kb: KnowledgeBase, question: str, region: str, expected: str
) -> None:
    ids = top(search, question, region=region)
    assert ids[0] == expected
    assert all(kb.entries[i].region == region for i in ids)


def test_topic_in_both_cities_ranks_both(search: KBSearch) -> None:
    ids = top(search, "子女入学")[:2]
    assert set(ids) == {"hn_children_school", "zjg_children_schooling"}


def test_rank_scores_are_positive_sorted_and_limited(search: KBSearch) -> None:
    terms = search.topic_terms("人才补贴")
    hits = search.rank(terms, limit=3)
    assert 0 < len(hits) <= 3
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


@pytest.mark.parametrize("terms", [[], ["完全陌生的词"], ["红烧肉"]])
def test_rank_without_known_terms_is_empty(search: KBSearch, terms: List[str]) -> None:
    assert search.rank(terms) == []


def test_idf_of_rare_words_is_higher(search: KBSearch) -> None:
    assert search.idf("攀峰") > search.idf("补贴") > 0
    # Stopwords ("人才" is one: nearly every entry has it) are never indexed.
    assert search.idf("人才") == 0.0
    assert search.idf("没有这个词") == 0.0


# --- sentences inside an entry ---------------------------------------------------------


def test_entry_sentences_cover_every_field(kb: KnowledgeBase) -> None:
    entry = kb.entries["zjg_talent_loan"]
    pairs = entry_sentences(entry)
    fields = {name for name, _ in pairs}
    assert {"summary", "audience", "amounts", "conditions", "process", "contact", "notes"} <= fields
    assert ("audience", f"适用对象：{entry.audience}") in pairs
    assert "materials" not in fields  # empty in this entry


def test_best_sentences_quote_the_detail_asked(search: KBSearch, kb: KnowledgeBase) -> None:
    sentences = search.best_sentences(kb.entries["zjg_talent_loan"], ["抵押"])
    assert sentences
    assert all("抵押" in sentence for _, sentence in sentences)
    assert ("conditions", "无抵押、无担保，是纯信用贷款。") in sentences


def test_best_sentences_without_overlap_is_empty(search: KBSearch, kb: KnowledgeBase) -> None:
    assert search.best_sentences(kb.entries["zjg_talent_loan"], ["红烧肉"]) == []


def test_best_sentences_respects_the_limit(search: KBSearch, kb: KnowledgeBase) -> None:
    entry = kb.entries["zjg_talent_loan"]
    assert len(search.best_sentences(entry, ["人才贷", "抵押", "放款"], limit=1)) == 1


def test_everyday_words_stand_for_the_entries_words(service: PolicyService) -> None:
    terms = service.search.topic_terms(normalize_text("我媳妇想在张家港上班"))
    # Words the entries never use are replaced; the entries' words are what is matched.
    assert "配偶" in terms and "就业" in terms
    assert "媳妇" not in terms and "上班" not in terms
    # A word some entries also use is kept, and the entries' word added.
    kept = service.search.topic_terms(normalize_text("小孩读书"))
    assert "入学" in kept and "子女" in kept
    assert "读书" in kept


def test_a_colloquial_family_question_finds_its_entry(service: PolicyService) -> None:
    hits = service.search.rank(
        service.search.topic_terms(normalize_text("我老公调到张家港了，我过去工作有着落吗")),
        region="张家港市",
    )
    assert hits[0].entry.id == "zjg_spouse_employment"


def test_sub_words_follow_the_dictionary() -> None:
    """The sub-words of a long word are remembered, and forgotten when words are added."""
    from bot.text.tokenize import Segmenter

    segmenter = Segmenter(["人才购房补贴"])
    before = segmenter.terms("人才购房补贴")
    assert "人才购房补贴" in before and segmenter.terms("人才购房补贴") == before
    segmenter.add_words(["房补"])
    after = segmenter.terms("人才购房补贴")
    assert "房补" in after
    assert Segmenter(["人才购房补贴", "房补"]).terms("人才购房补贴") == after
