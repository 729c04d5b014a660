"""Custom actions: thin glue between Rasa and the ``bot`` library.

``rasa run actions --actions actions`` imports every module listed here.
"""

from bot import log_privacy

# Before anything logs: slots and messages carry application numbers and phone digits.
log_privacy.install()

from actions import application_status, fallback, handoff, policy_qa, session  # noqa: E402, F401
from bot.handoff.service import get_handoff_service  # noqa: E402
from bot.kb.service import get_policy_service  # noqa: E402

# Load and validate the knowledge base when the action server starts: a malformed entry stops
# the start with a message naming the file and the field, instead of failing a citizen's turn.
get_policy_service()
# The same for the specialists' service hours (HANDOFF_HOURS...).
get_handoff_service()
