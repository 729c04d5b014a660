"""The held-out sets measure the NLU only if none of their messages is trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from bot.evaluation.report import BLIND_FILES, HELDOUT_FILE, load_heldout, load_questions
from bot.text.normalize import normalize_text

from .conftest import ROOT


def _examples(path: Path) -> List[Tuple[str, str]]:
    return load_heldout(ROOT, path)  # any NLU file: (text, intent) pairs


def _key(text: str) -> str:
    # Punctuation and spacing do not make a different message (unless it is all there is).
    normalized = normalize_text(text)
    # Emoji-only messages normalise to nothing: then the raw text tells them apart.
    return "".join(ch for ch in normalized if ch.isalnum()) or normalized or text


@pytest.fixture(scope="module")
def trained() -> Dict[str, str]:
    out: Dict[str, str] = {}
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for text, intent in _examples(path):
            out[_key(text)] = intent
    return out


@pytest.mark.parametrize("path", [HELDOUT_FILE, *BLIND_FILES], ids=str)
def test_no_held_out_message_is_trained_on(trained: Dict[str, str], path: Path) -> None:
    examples = _examples(ROOT / path)
    assert len(examples) >= 150
    leaked = [text for text, _ in examples if _key(text) in trained]
    assert not leaked, f"{path}: in data/nlu/: {leaked}"


def test_no_evaluation_question_is_trained_on(trained: Dict[str, str]) -> None:
    turns = [turn for question in load_questions(ROOT) for turn in question.turns]
    leaked = [turn for turn in turns if len(_key(turn)) > 6 and _key(turn) in trained]
    assert not leaked, f"tests/eval/ questions in data/nlu/: {leaked}"


def test_the_held_out_sets_cover_every_intent_of_the_training_data(
    trained: Dict[str, str],
) -> None:
    intents = set(trained.values())
    assert {intent for _, intent in _examples(ROOT / HELDOUT_FILE)} == intents
    # The blind sets are scored together (bot.evaluation.report), so together they cover all.
    blind = {intent for path in BLIND_FILES for _, intent in _examples(ROOT / path)}
    assert blind == intents
