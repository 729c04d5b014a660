"""bot.text.normalize: the canonical form every later step sees."""

from __future__ import annotations

from typing import Tuple

import pytest

from bot.text.normalize import (
    MAX_MESSAGE_CHARS,
    has_content,
    is_payload,
    normalize,
    normalize_text,
    to_simplified,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("張家港人才貸怎麼申請", "张家港人才贷怎么申请"),
        ("海寧人才公寓", "海宁人才公寓"),
        ("關愛九條", "关爱九条"),
        ("購房補貼需要什麼材料", "购房补贴需要什么材料"),
        ("臺灣", "台湾"),
        # Already simplified text is left alone.
        ("张家港人才贷", "张家港人才贷"),
    ],
)
def test_traditional_to_simplified(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize("raw", ["張家港人才貸", "後來發現頭髮變白了", "乾隆皇帝", "雲上服務平臺"])
def test_to_simplified_keeps_one_character_per_character(raw: str) -> None:
    assert len(to_simplified(raw)) == len(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),
        ("Ｇ４２＋改革", "g42+改革"),
        ("人才贷　怎么办", "人才贷 怎么办"),  # ideographic space
        ("（人才贷）", "(人才贷)"),
        ("ＨＥＬＬＯ　Ｗｏｒｌｄ", "hello world"),
        ("8521行动", "8521行动"),
    ],
)
def test_full_width_to_half_width_and_lower_case(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("人才贷？？？", "人才贷?"),
        ("人才贷？！！", "人才贷?"),
        ("人才贷!?!?", "人才贷!"),
        ("人才贷。。。", "人才贷。"),
        ("人才贷~~~", "人才贷~"),
        ("人才贷……", "人才贷."),
        ("人才贷，，怎么办", "人才贷,怎么办"),
        ("a--b", "a-b"),
        # A space between two marks keeps both.
        ("？？ ？？", "? ?"),
        # Different non-sentence marks are not folded together.
        ("《人才贷》？", "《人才贷》?"),
    ],
)
def test_punctuation_runs_fold_to_their_first_mark(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("人才贷  \t\n 怎么办", "人才贷 怎么办"),
        ("  人才贷  ", "人才贷"),
        ("\n\n人才\r\n贷\t", "人才 贷"),
        ("   ", ""),
        ("", ""),
    ],
)
def test_whitespace_runs_collapse_and_ends_are_trimmed(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("人\u200b才\u200c贷\u200d", "人才贷"),
        ("\ufeff人才贷\u2060", "人才贷"),
        ("人才\x00贷\x07\x1b", "人才贷"),
        ("\ue000人才贷", "人才贷"),  # private use character
    ],
)
def test_zero_width_control_and_private_characters_are_dropped(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_dropped_characters_do_not_join_words_that_had_a_space() -> None:
    assert normalize_text("人才贷 \u200b 怎么办") == "人才贷 怎么办"


def test_emoji_are_dropped_and_the_words_kept() -> None:
    result = normalize("人才贷😀怎么申请🙏🏻")
    assert result.text == "人才贷 怎么申请"
    assert has_content(result.text)
    assert not has_content(normalize("👍🏻❤️😂").text)
    # Symbols that are not emoji stay.
    assert normalize("¥5000 / 5%").text == "¥5000 / 5%"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张家港Talent Loan要啥条件伐", "张家港人才贷要啥条件吗"),
        ("rencaidai最多贷多少", "人才贷最多贷多少"),
        ("阿拉小囡在海宁读书哪能办", "我们孩子在海宁读书怎么办"),
        ("海宁人材公育怎么申情", "海宁人才公寓怎么申请"),
        ("PhD去ZJG有购方补帖吗", "博士去张家港有购房补贴吗"),
        # English words match whole words only, never inside an identifier.
        ("masterpiece", "masterpiece"),
        ("帮我查一下ZJG-2024-00202的进度", "帮我查一下zjg-2024-00202的进度"),
        ("zjg2024", "zjg2024"),
    ],
)
def test_variant_spellings_of_the_vocabulary_are_rewritten(raw: str, expected: str) -> None:
    from bot.kb.service import get_policy_service

    assert normalize_text(raw, spellings=get_policy_service().spellings) == expected


def test_rewritten_spans_map_back_into_the_original() -> None:
    from bot.text.normalize import Spellings

    result = normalize("我想问talent loan呢", spellings=Spellings({"talent loan": "人才贷"}))
    assert result.text == "我想问人才贷呢"
    assert result.original_span(3, 6) == (3, 14)
    assert result.original_span(6, 7) == (14, 15)


@pytest.mark.parametrize("raw", ["👍", "👍👍👍", "😀🙏", "🎉 🎉 🎉", "？？？", "……", "。", "~~~"])
def test_emoji_or_punctuation_only_has_no_content(raw: str) -> None:
    assert not has_content(normalize_text(raw))


@pytest.mark.parametrize(
    "raw",
    ["<b>人才贷</b>", "<script>alert(1)</script>", "<p>海宁人才公寓</p>", "a < b > c"],
)
def test_markup_is_kept_as_plain_text(raw: str) -> None:
    assert normalize_text(raw) == raw


def test_long_message_is_cut_and_flagged() -> None:
    raw = "人才贷" * 300  # 900 characters
    result = normalize(raw)
    assert result.truncated
    assert len(result.text) == MAX_MESSAGE_CHARS
    assert result.original_length == 900
    assert result.text == raw[:MAX_MESSAGE_CHARS]
    assert len(result.offsets) == MAX_MESSAGE_CHARS


def test_message_of_exactly_the_limit_is_not_flagged() -> None:
    result = normalize("贷款" * (MAX_MESSAGE_CHARS // 2))
    assert not result.truncated
    assert len(result.text) == MAX_MESSAGE_CHARS


def test_truncation_counts_characters_after_normalising() -> None:
    # 600 question marks fold into one: nothing is lost, nothing is cut.
    result = normalize("人才贷" + "？" * 600)
    assert result.text == "人才贷?"
    assert not result.truncated
    assert result.original_length == 603


def test_custom_limit() -> None:
    result = normalize("张家港人才贷怎么申请", max_chars=6)
    assert result.text == "张家港人才贷"
    assert result.truncated


def test_none_is_treated_as_empty() -> None:
    result = normalize(None)  # type: ignore[arg-type]
    assert result.text == ""
    assert result.offsets == ()
    assert not result.truncated


def test_offsets_point_at_the_original_characters() -> None:
    raw = "  張家港\u200b  人才貸？？？"
    result = normalize(raw)
    assert result.text == "张家港 人才贷?"
    assert result.original_length == len(raw)
    assert len(result.offsets) == len(result.text)
    assert result.offsets == (2, 3, 4, 6, 8, 9, 10, 11)
    # Each kept character comes from the original character its offset names.
    for char, offset in zip(result.text, result.offsets):
        if char != " ":
            assert normalize_text(raw[offset]) == char


@pytest.mark.parametrize(
    ("span", "original"),
    [
        ((0, 3), (2, 5)),  # 张家港
        ((4, 7), (8, 11)),  # 人才贷
        ((7, 8), (11, 12)),  # the first of the three question marks
        ((0, 8), (2, 12)),
        ((3, 3), (6, 6)),  # empty span stays empty
        ((8, 8), (14, 14)),  # at the end: the end of the original
        ((20, 25), (14, 14)),
    ],
)
def test_original_span(span: Tuple[int, int], original: Tuple[int, int]) -> None:
    result = normalize("  張家港\u200b  人才貸？？？")
    assert result.original_span(*span) == original


def test_original_span_of_a_truncated_text_stays_inside_the_original() -> None:
    raw = "　" + "人才" * 350
    result = normalize(raw)
    assert result.truncated
    start, end = result.original_span(0, len(result.text))
    assert (start, end) == (1, 1 + MAX_MESSAGE_CHARS)
    assert raw[start:end] == result.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ask_policy", True),
        ('/ask_policy{"policy": "zjg_talent_loan"}', True),
        ('  /inform_region{"region": "海宁市"}', True),
        ("人才贷", False),
        ("人才贷/人才公寓", False),
        ("", False),
        ("？/greet", False),
    ],
)
def test_is_payload(text: str, expected: bool) -> None:
    assert is_payload(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("人才贷", True),
        ("a", True),
        ("1", True),
        ("g42+", True),
        ("", False),
        ("   ", False),
        ("?!", False),
        ("👍", False),
        ("x" * 11, True),
        ("x" * 12, False),  # a long run of one character
        ("哈" * 20, False),
        ("ab" * 6, False),  # a long run of two characters
        ("x x x x x x x x x x x x", False),  # spaces do not count as characters
        ("abc" * 4, True),  # three distinct characters are words
        ("人才贷" * 5, True),
        ("好的好的", True),  # short repetition is a normal answer
        ("哈哈", True),
        ("哈哈哈", False),  # what is left of a longer run
    ],
)
def test_has_content(text: str, expected: bool) -> None:
    assert has_content(text) is expected


def test_long_runs_of_one_character_are_folded_but_digits_are_kept() -> None:
    assert normalize_text("哈哈哈哈哈哈好的") == "哈哈哈好的"
    assert normalize_text("尾号0000，aaaa") == "尾号0000,aaaa"
    assert normalize_text("问" + "请" * 10_000) == "问请请请"


@pytest.mark.parametrize(
    "raw",
    [
        "張家港人才貸怎麼申請？？？",
        "ＡＢＣ　１２３！！！ 人才公寓",
        "请请请请请请 帮我 查一下……",
        "哈哈哈哈哈哈哈哈",
        "zero\u200bwidth\u200d 人才\ufeff贷",
        "emoji 😀😀😀😀 <script>alert(1)</script>",
        "  多个   空格 \t\n 换行  ",
        "人才贷" * 400,
        "?!?!。。。，，，",
        "",
    ],
)
def test_normalising_twice_changes_nothing(raw: str) -> None:
    """The actions take the NLU's normalised text as it is (actions/common.question_text)."""
    once = normalize_text(raw)
    assert normalize_text(once) == once
