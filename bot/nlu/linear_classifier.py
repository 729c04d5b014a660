"""Rasa component: the intent ensemble, DIET's ranking averaged with a linear n-gram model's.

Placed after DIETClassifier. DIET sees jieba's tokens through a transformer; the n-gram model
(`bot.nlu.ngram_model`) sees words and character n-grams across word boundaries. On phrasings
that the training data does not hold, DIET is often certain and wrong, while the linear model
is less sure but more often right; their weighted mean was more accurate on the held-out set
than either alone (docs/nlu.md). The fallback classifier then reads the mean's confidence.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.ngram_model import NgramIntentModel
from bot.text.normalize import is_payload

logger = logging.getLogger(__name__)

RANKING_LENGTH = 10


def _words(message: Message) -> List[str]:
    return [token.text for token in message.get(TOKENS_NAMES[TEXT]) or []]


def combine(
    first: Sequence[Tuple[str, float]], second: Dict[str, float], first_weight: float
) -> List[Tuple[str, float]]:
    """Weighted mean of two rankings; an intent missing from one counts as 0 there. Best first."""
    scores = {name: (1.0 - first_weight) * p for name, p in second.items()}
    for name, p in first:
        scores[name] = scores.get(name, 0.0) + first_weight * p
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LinearEnsembleClassifier(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            # Inverse regularisation strength of the logistic regression.
            "c": 100.0,
            "min_char_ngram": 1,
            "max_char_ngram": 3,
            # Weight of the ranking found on the message (DIET's); the n-gram model gets the rest.
            "diet_weight": 0.3,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[NgramIntentModel] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        weight = float(self._config["diet_weight"])
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"diet_weight must be in [0, 1), got {weight}")
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearEnsembleClassifier:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [
            (_words(m), m.get(TEXT), m.get(INTENT))
            for m in training_data.intent_examples
            if m.get(TEXT) and m.get(INTENT)
        ]
        if len({intent for _, _, intent in examples}) < 2:
            logger.warning("意图集成：训练数据少于两个意图，只用 DIET 的结果。")
            return self._resource
        self._model = NgramIntentModel.fit(
            examples,
            c=float(self._config["c"]),
            char_range=(
                int(self._config["min_char_ngram"]),
                int(self._config["max_char_ngram"]),
            ),
        )
        self.persist()
        return self._resource

    def persist(self) -> None:
        if self._model is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            self._model.save(directory)

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearEnsembleClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                model: Optional[NgramIntentModel] = NgramIntentModel.load(directory)
        except ValueError:
            # Trained without data (see train()): the component passes DIET's result on.
            model = None
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._classify(message)
        return messages

    def _classify(self, message: Message) -> None:
        text = message.get(TEXT)
        if self._model is None or not text or is_payload(text):
            return
        first = [
            (str(item[INTENT_NAME_KEY]), float(item[PREDICTED_CONFIDENCE_KEY]))
            for item in message.get(INTENT_RANKING_KEY) or []
        ]
        weight = float(self._config["diet_weight"]) if first else 0.0
        ranking = combine(first, self._model.probabilities(_words(message), text), weight)
        best, confidence = ranking[0]
        intent = {INTENT_NAME_KEY: best, PREDICTED_CONFIDENCE_KEY: confidence}
        message.set(INTENT, intent, add_to_output=True)
        message.set(
            INTENT_RANKING_KEY,
            [
                {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: p}
                for name, p in ranking[:RANKING_LENGTH]
            ],
            add_to_output=True,
        )
