"""Custom actions: thin glue between Rasa and the ``bot`` library.

``rasa run actions --actions actions`` imports every module listed here.
"""

from actions import fallback, policy_qa, session  # noqa: F401
