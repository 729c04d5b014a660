"""The held-out sets measure the NLU only if none of their messages is trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from bot.evaluation.report import BLIND_FILES, HELDOUT_FILE, load_questions

from .conftest import ROOT, message_key, nlu_examples


@pytest.mark.parametrize("path", [HELDOUT_FILE, *BLIND_FILES], ids=str)
def test_no_held_out_message_is_trained_on(trained: Dict[str, str], path: Path) -> None:
    examples = nlu_examples(ROOT / path)
    assert len(examples) >= 150
    leaked = [text for text, _ in examples if message_key(text) in trained]
    assert not leaked, f"{path}: in data/nlu/: {leaked}"


def test_no_evaluation_question_is_trained_on(trained: Dict[str, str]) -> None:
    turns = [turn for question in load_questions(ROOT) for turn in question.turns]
    leaked = [turn for turn in turns if len(message_key(turn)) > 6 and message_key(turn) in trained]
    assert not leaked, f"tests/eval/ questions in data/nlu/: {leaked}"


def test_the_held_out_sets_cover_every_intent_of_the_training_data(
    trained: Dict[str, str],
) -> None:
    intents = set(trained.values())
    assert {intent for _, intent in nlu_examples(ROOT / HELDOUT_FILE)} == intents
    # The blind sets are scored together (bot.evaluation.report), so together they cover all.
    blind = {intent for path in BLIND_FILES for _, intent in nlu_examples(ROOT / path)}
    assert blind == intents
