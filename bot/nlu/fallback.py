"""Rasa component: the fallback classifier, also for messages with nothing to understand.

An empty message, emoji only, punctuation only, or a long run of one or two characters
("xxxxxxxx…") is not a question: whatever DIET predicts for it, it falls back, and the
fallback action asks the citizen to type their question.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.text.normalize import has_content, is_payload


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ContentAwareFallbackClassifier(FallbackClassifier):
    def _should_fallback(self, message: Message) -> bool:
        text = message.get(TEXT) or ""
        if is_payload(text):
            return super()._should_fallback(message)
        return not has_content(text) or super()._should_fallback(message)
