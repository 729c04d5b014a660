"""Rasa component: jieba with a user dictionary generated from the knowledge base.

At training time the dictionary is built from the entries' titles and aliases, city names and
aspect phrases, and stored inside the model, so that a served model segments exactly as it
was trained, whatever the knowledge base on disk says meanwhile.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List

import jieba
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.kb.loader import load_kb
from bot.kb.search import domain_words
from bot.text.tokenize import USER_WORD_FREQ

logger = logging.getLogger(__name__)

USER_DICT_FILE = "kb_userdict.txt"


def build_user_dictionary(kb_path: str) -> List[str]:
    """Lines of a jieba user dictionary: ``word freq``."""
    return [f"{word} {USER_WORD_FREQ}" for word in domain_words(load_kb(kb_path))]


def _register(lines: List[str]) -> None:
    for line in lines:
        word, _, freq = line.rpartition(" ")
        jieba.add_word(word, freq=int(freq))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=True)
class KBJiebaTokenizer(JiebaTokenizer):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {**JiebaTokenizer.get_default_config(), "kb_path": "policies_kb"}

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        dictionary: List[str],
    ) -> None:
        super().__init__(config, model_storage, resource)
        self._dictionary = dictionary

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KBJiebaTokenizer:
        lines = build_user_dictionary(config["kb_path"])
        _register(lines)
        logger.info("jieba 用户词典：%d 个词（来自知识库）", len(lines))
        return cls(config, model_storage, resource, lines)

    def train(self, training_data: TrainingData) -> Resource:
        with self._model_storage.write_to(self._resource) as directory:
            Path(directory, USER_DICT_FILE).write_text(
                "\n".join(self._dictionary) + "\n", encoding="utf-8"
            )
        return self._resource

    def persist(self) -> None:  # the dictionary is written by train()
        pass

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> KBJiebaTokenizer:
        with model_storage.read_from(resource) as directory:
            lines = Path(directory, USER_DICT_FILE).read_text(encoding="utf-8").splitlines()
        lines = [line for line in lines if line.strip()]
        _register(lines)
        return cls(config, model_storage, resource, lines)

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        # jieba returns whitespace as tokens; they carry nothing for the featurizers.
        tokens = [t for t in super().tokenize(message, attribute) if t.text.strip()]
        if not tokens:
            # Rasa's featurizers expect at least one token per message.
            tokens = [Token(message.get(attribute) or " ", 0)]
        return tokens
