"""Rasa component: normalise message text before the tokenizer sees it."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.kb.service import get_policy_service
from bot.text.normalize import (
    MAX_MESSAGE_CHARS,
    NORMALIZATION_KEY,
    Normalized,
    is_payload,
    normalize,
)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextNormalizer(GraphComponent):
    """Traditional to simplified, full-width to half-width, punctuation and whitespace runs
    folded, emoji dropped, variant spellings of the knowledge base's vocabulary rewritten
    (read at run time, so a new spelling needs no retraining), over-long messages cut. Must
    come first in the pipeline."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"max_chars": MAX_MESSAGE_CHARS}

    def __init__(self, config: Dict[str, Any]) -> None:
        self.max_chars = int(config.get("max_chars", MAX_MESSAGE_CHARS))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormalizer:
        return cls(config)

    def _normalize(self, message: Message, *, training: bool) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or is_payload(text):
            return
        result = normalize(text, self.max_chars, get_policy_service().spellings)
        message.set(TEXT, result.text)
        if training:
            self._remap_entities(message, result)
        else:
            # Also when nothing changed: it tells the actions that the text is normalised.
            message.set(
                NORMALIZATION_KEY,
                {"truncated": result.truncated, "original_length": result.original_length},
                add_to_output=True,
            )

    @staticmethod
    def _remap_entities(message: Message, result: Normalized) -> None:
        """Keeps annotated entity spans pointing at the same characters after normalising."""
        entities = message.get(ENTITIES)
        if not entities:
            return
        inverse: Dict[int, int] = {}
        for new_index, old_index in enumerate(result.offsets):
            inverse.setdefault(old_index, new_index)
        remapped: List[Dict[str, Any]] = []
        for entity in entities:
            start = _first_at_or_after(inverse, entity[ENTITY_ATTRIBUTE_START], len(result.text))
            end = _first_at_or_after(inverse, entity[ENTITY_ATTRIBUTE_END], len(result.text))
            if start is not None and end is not None and end > start:
                remapped.append(
                    {**entity, ENTITY_ATTRIBUTE_START: start, ENTITY_ATTRIBUTE_END: end}
                )
        message.set(ENTITIES, remapped)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example, training=True)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message, training=False)
        return messages


def _first_at_or_after(inverse: Dict[int, int], old: int, default: int) -> Optional[int]:
    """The new index of the first kept original character at or after ``old``."""
    if not inverse:
        return None
    for index in range(old, max(inverse) + 1):
        if index in inverse:
            return inverse[index]
    return default
