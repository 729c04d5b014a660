"""人才服务助手 — the talent-service assistant's library.

Sub-packages: ``text`` (normalisation, tokenisation), ``kb`` (the policy knowledge base),
``nlu`` (custom Rasa NLU components), plus the command line (``python -m bot``).
"""

__version__ = "0.1.0"
