"""Custom actions: thin glue between Rasa and the ``bot`` library.

``rasa run actions --actions actions`` imports every module listed here.
"""

from actions import fallback, policy_qa, session  # noqa: F401
from bot.kb.service import get_policy_service

# Load and validate the knowledge base when the action server starts: a malformed entry stops
# the start with a message naming the file and the field, instead of failing a citizen's turn.
get_policy_service()
