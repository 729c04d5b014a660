"""The citizen-style sets judge what citizens get only if nothing here was tuned on them.

A judging set is frozen once written: its checksum is recorded here, and a change of the file
fails this test (a new judging set is a new file, written the same way). None of its messages
may be in the training data, the aliases or the other evaluation sets.
"""

from __future__ import annotations

import hashlib
from typing import Dict, List

import pytest

from bot.evaluation.citizen import (
    CLASSES,
    DEV_SET,
    invented_numbers,
    is_dev,
    is_policy_answer,
    judge,
    load_set,
    set_names,
    set_path,
)
from bot.kb.loader import load_kb

from .conftest import ROOT, message_key

FROZEN = {
    "judge_1": "5cd900052f35cdaa2da408c3f577fe360f94ec4d94cb9bb469e5310b2c6c99ad",
    # The confirmation set, kept apart (make eval does not score it): scored once, when the
    # work on the citizen-style answers is done (docs/nlu.md).
    "confirm/judge_2": "ec55469a662936ba29501cbcf852139f9ad277b81945b23b4a1770ae4cb5c711",
}
JUDGING_MIN_ITEMS = 250
JUDGING_MIN_PER_CLASS = 15


def _turns(name: str) -> List[str]:
    return [turn for item in load_set(set_path(ROOT, name)) for turn in item.turns]


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_judging_sets_are_frozen(name: str) -> None:
    digest = hashlib.sha256(set_path(ROOT, name).read_bytes()).hexdigest()
    assert digest == FROZEN[name], f"{name}.yml changed: a judging set is never edited"


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_judging_sets_are_large_and_cover_every_class(name: str) -> None:
    items = load_set(set_path(ROOT, name))
    assert len(items) >= JUDGING_MIN_ITEMS
    for cls in CLASSES:
        assert sum(i.cls == cls for i in items) >= JUDGING_MIN_PER_CLASS, cls


def test_every_set_in_the_folder_loads_and_judging_sets_are_registered() -> None:
    names = set_names(ROOT)
    assert DEV_SET in names
    scored = {name for name in FROZEN if "/" not in name}
    dev_sets = {name for name in names if is_dev(name)}
    assert set(names) - dev_sets == scored, "a new judging set needs its checksum here"
    for name in [*names, *FROZEN]:
        assert load_set(set_path(ROOT, name))


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_no_judging_message_is_trained_on_or_an_alias(trained: Dict[str, str], name: str) -> None:
    kb = load_kb(ROOT / "policies_kb")
    names = {message_key(n) for entry in kb for n in entry.names}
    leaked = [t for t in _turns(name) if len(message_key(t)) > 4 and message_key(t) in trained]
    assert not leaked, f"{name}: in data/nlu/: {leaked}"
    # A citizen may type just a name ("人才贷"); a whole sentence of the set as an alias
    # would mean the aliases were written from it.
    aliases = [t for t in _turns(name) if len(message_key(t)) > 6 and message_key(t) in names]
    assert not aliases, f"{name}: messages that are entry names: {aliases}"


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_judging_sets_share_no_message_with_the_development_sets(name: str) -> None:
    dev = {message_key(t) for d in set_names(ROOT) if is_dev(d) for t in _turns(d)}
    shared = [t for t in _turns(name) if len(message_key(t)) > 4 and message_key(t) in dev]
    assert not shared


def test_an_invented_figure_is_found_and_list_numbers_are_not() -> None:
    allowed = {"3000", "3"}
    assert invented_numbers("单笔最高可达3000万元，最快3天放款", allowed, []) == []
    assert invented_numbers("最高5000万元", allowed, []) == ["5000"]
    assert invented_numbers("1. 条件\n2. 材料", allowed, []) == []
    # A figure the citizen gave is theirs, not invented.
    assert invented_numbers("您说的2024年", allowed, ["我2024年毕业"]) == []


def test_judging_rules() -> None:
    from bot.evaluation.citizen import CitizenItem

    answer = CitizenItem("x", "colloquial", ("q",), "answer", (("3000万",), ("无抵押", "纯信用")))
    assert judge(answer, [{"text": "单笔最高3000万元，纯信用"}])[0]
    assert not judge(answer, [{"text": "单笔最高3000万元"}])[0]
    honest = CitizenItem("y", "unanswerable", ("q",), "honest", ())
    assert judge(honest, [{"text": "现有资料暂未载明具体地址"}])[0]
    assert not judge(honest, [{"text": "地址是人民路1号"}])[0]
    oos = CitizenItem("z", "out_of_scope", ("q",), "out_of_scope", ())
    assert judge(oos, [{"text": "抱歉，这个问题超出了我的服务范围。"}])[0]
    assert not is_policy_answer([{"text": "x", "buttons": [{"payload": "/request_human"}]}])
    assert is_policy_answer([{"text": "x", "buttons": [{"payload": '/ask_policy{"policy": "a"}'}]}])
