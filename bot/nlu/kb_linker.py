"""Rasa component: link mentions of knowledge-base entries, cities and aspects.

spaCy where it is strong: a blank ``zh`` pipeline segmented by jieba and a PhraseMatcher over
the entries' titles and aliases, the city names and the aspect phrases. A ``policy`` entity
carries the entry's id as its value, so the action needs no fuzzy lookup for what was linked.
The lexicon is built from the knowledge base at training time and stored in the model.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import jieba
import spacy
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from spacy.language import Language
from spacy.matcher import PhraseMatcher

from bot.kb.loader import load_kb
from bot.text.normalize import is_payload, normalize_text
from bot.text.tokenize import USER_WORD_FREQ

logger = logging.getLogger(__name__)

LEXICON_FILE = "kb_lexicon.json"
# Entity types this component emits.
POLICY, REGION, ASPECT, OTHER_PLACE = "policy", "region", "aspect", "other_place"
LABELS = (POLICY, REGION, ASPECT, OTHER_PLACE)

Lexicon = Dict[str, Dict[str, List[str]]]  # label -> surface form -> values


def build_lexicon(kb_path: str) -> Lexicon:
    """Surface forms (normalised) to values, per entity type, from the knowledge base."""
    kb = load_kb(kb_path)
    lexicon: Dict[str, Dict[str, List[str]]] = {label: defaultdict(list) for label in LABELS}
    for entry in kb:
        for name in entry.names:
            form = normalize_text(name)
            if entry.id not in lexicon[POLICY][form]:
                lexicon[POLICY][form].append(entry.id)
    for region in kb.vocabulary.regions:
        for alias in region.aliases:
            lexicon[REGION][normalize_text(alias)] = [region.name]
    for place in kb.vocabulary.other_places:
        lexicon[OTHER_PLACE][normalize_text(place)] = [place]
    for key, triggers in kb.vocabulary.aspect_triggers.items():
        for trigger in triggers:
            lexicon[ASPECT].setdefault(normalize_text(trigger), [key])
    return {label: dict(forms) for label, forms in lexicon.items()}


def blank_chinese() -> Language:
    """A blank spaCy pipeline for Chinese using jieba (no model download)."""
    return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})


class Linker:
    """Finds lexicon entries in normalised text; longest match wins within a label."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        for forms in lexicon.values():
            for form in forms:
                if len(form) >= 2:
                    jieba.add_word(form, freq=USER_WORD_FREQ)
        self.nlp = blank_chinese()
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        for label, forms in lexicon.items():
            self.matcher.add(label, [self.nlp.make_doc(form) for form in forms])
        # Names jieba might still split differently in context: checked as substrings too.
        self._substring_forms: List[Tuple[str, str]] = sorted(
            ((label, form) for label, forms in lexicon.items() for form in forms if len(form) >= 3),
            key=lambda item: -len(item[1]),
        )

    def spans(self, text: str) -> List[Tuple[str, int, int, str]]:
        """(label, start, end, surface form) character spans, non-overlapping per label."""
        doc = self.nlp(text)
        found: List[Tuple[str, int, int, str]] = []
        for match_id, start, end in self.matcher(doc):
            span = doc[start:end]
            found.append(
                (self.nlp.vocab.strings[match_id], span.start_char, span.end_char, span.text)
            )
        for label, form in self._substring_forms:
            index = text.find(form)
            while index != -1:
                found.append((label, index, index + len(form), form))
                index = text.find(form, index + 1)
        kept: List[Tuple[str, int, int, str]] = []
        taken: Dict[str, Set[int]] = defaultdict(set)
        for label, start, end, form in sorted(found, key=lambda f: (-(f[2] - f[1]), f[1])):
            chars = set(range(start, end))
            if chars & taken[label]:
                continue
            taken[label] |= chars
            kept.append((label, start, end, form))
        return sorted(kept, key=lambda f: f[1])

    def entities(self, text: str, extractor: str) -> List[Dict[str, Any]]:
        out = []
        for label, start, end, form in self.spans(text):
            for value in self.lexicon[label].get(form, []):
                out.append(
                    {
                        "entity": label,
                        "value": value,
                        "start": start,
                        "end": end,
                        "confidence_entity": 1.0,
                        "extractor": extractor,
                    }
                )
        return out


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=True)
class KBEntityLinker(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"kb_path": "policies_kb"}

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        lexicon: Optional[Lexicon] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._linker = Linker(lexicon) if lexicon is not None else None

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KBEntityLinker:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        lexicon = build_lexicon(self._config["kb_path"])
        with self._model_storage.write_to(self._resource) as directory:
            Path(directory, LEXICON_FILE).write_text(
                json.dumps(lexicon, ensure_ascii=False, indent=1), encoding="utf-8"
            )
        self._linker = Linker(lexicon)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> KBEntityLinker:
        with model_storage.read_from(resource) as directory:
            lexicon = json.loads(Path(directory, LEXICON_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, lexicon)

    def process(self, messages: List[Message]) -> List[Message]:
        if self._linker is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text or is_payload(text):
                continue
            found = self._linker.entities(text, self.__class__.__name__)
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
