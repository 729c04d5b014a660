"""Rasa component: scope decided by evidence, not by the classifier alone.

The intent classifier learns "out of scope" from examples; a citizen's wording it has not seen
("孩子上学怎么解决") can look like one. A message that names a topic of the knowledge base (a
title or alias the entity linker found) or that retrieval matches strongly (the same bar the
resolver holds a doubted question to) is a policy question, whatever the classifier said, as
is a greeting or thanks with such a question in it. The knowledge base is read at run time
(``bot.kb.service``), so a new entry needs no retraining.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.kb.service import NAME_CHARS, get_policy_service
from bot.text.normalize import is_payload

POLICY_INTENT = "ask_policy"
# Where the parse data says why the intent was changed (read in logs and the evaluation).
SCOPE_KEY = "scope_evidence"


def kb_evidence(text: str, entities: List[Dict[str, Any]]) -> Optional[str]:
    """Why a normalised message is about the knowledge base ("name", "retrieval"), or None
    (``PolicyService.evidence``, with the names the entity linker found)."""
    labels = {e.get("entity") for e in entities}
    if "other_place" in labels and "region" not in labels:
        return None  # another city's policy: classified as it was
    named = any(e.get("entity") == "policy" and _span(e) >= NAME_CHARS for e in entities)
    return get_policy_service().evidence(text, named=named)


def _span(entity: Dict[str, Any]) -> int:
    start, end = entity.get("start"), entity.get("end")
    if isinstance(start, int) and isinstance(end, int):
        return end - start
    return len(str(entity.get("value") or ""))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class KnowledgeScope(GraphComponent):
    """Turns the listed intents into ``ask_policy`` when the knowledge base has evidence.
    Comes after the fallback classifier, so that it can also take back a fallback."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            "intents": ["out_of_scope", "nlu_fallback", "chitchat", "greet", "thank", "goodbye"]
        }

    def __init__(self, config: Dict[str, Any]) -> None:
        self.intents = frozenset(config.get("intents") or ())

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KnowledgeScope:
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            intent = message.get(INTENT) or {}
            if not isinstance(text, str) or not text or is_payload(text):
                continue
            if intent.get("name") not in self.intents:
                continue
            evidence = kb_evidence(text, message.get(ENTITIES) or [])
            if evidence is None:
                continue
            message.set(
                INTENT,
                {"name": POLICY_INTENT, "confidence": float(intent.get("confidence") or 0.0)},
                add_to_output=True,
            )
            message.set(
                SCOPE_KEY,
                {"evidence": evidence, "classified": intent.get("name")},
                add_to_output=True,
            )
        return messages
