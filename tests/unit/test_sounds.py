"""Homophone typos and pinyin restored to the knowledge base's words (bot.text.sounds), and
only those: real words and word boundaries are left as written."""

from __future__ import annotations

import pytest

from bot.kb.service import get_policy_service
from bot.text.normalize import normalize, normalize_text


def norm(text: str) -> str:
    return normalize_text(text, spellings=get_policy_service().spellings)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("海宁人才录卡发给谁", "海宁人才绿卡发给谁"),
        ("海宁一站式人才综合服务平太能干什么", "海宁一站式人才综合服务平台能干什么"),
        ("张家港的智会港城计划是什么", "张家港的智汇港城计划是什么"),
        ("张家港关爱久条有哪些内容", "张家港关爱九条有哪些内容"),
        ("张家港留学声创业园在哪里", "张家港留学生创业园在哪里"),
    ],
)
def test_homophone_typos_of_names_are_restored(typed: str, expected: str) -> None:
    assert norm(typed) == expected


@pytest.mark.parametrize(
    "text",
    [
        "张家港十大新型研发机构有哪些",  # 张家港 + 十大, not 张家港市
        "张家港示范服务窗口地址在哪",  # 张家港 + 示范
        "老公在张家港是高层次人才",  # 是 is a word of its own
        "海宁和浙大一院合作了吗",  # two characters: too many homophones to guess
        "具体减免了多少租金",
    ],
)
def test_real_words_and_word_boundaries_are_left_alone(text: str) -> None:
    assert norm(text) == normalize_text(text)


def test_pinyin_spelt_words_become_the_words() -> None:
    assert norm("haining rencai lvka") == "海宁人才绿卡"
    assert norm("zhangjiagang rencaidai yao bu yao diya") == "张家港 人才贷 yao bu yao 抵押"


def test_pinyin_never_matches_inside_an_identifier() -> None:
    assert norm("diya-2024-001 haining") == "diya-2024-001 海宁"


def test_a_restored_word_maps_back_onto_what_was_typed() -> None:
    spellings = get_policy_service().spellings
    typed = "请问人才录卡"
    result = normalize(typed, spellings=spellings)
    start = result.text.index("人才绿卡")
    assert result.original_span(start, start + 4) == (2, 6)


def test_emoji_the_vocabulary_reads_as_words_become_words_and_others_go() -> None:
    assert norm("想在海宁买🏠") == "想在海宁买房子"
    assert norm("👶上学咋办") == "孩子上学咋办"
    assert norm("🙏🙏张家港人才贷😭") == "张家港人才贷"
