"""The policy knowledge base: schema, loading and validation, retrieval, answers."""

from bot.kb.loader import KBValidationError, KnowledgeBase, load_kb
from bot.kb.models import ASPECTS, Aspect, PolicyEntry

__all__ = ["ASPECTS", "Aspect", "KBValidationError", "KnowledgeBase", "PolicyEntry", "load_kb"]
