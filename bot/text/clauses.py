"""Split a message into its questions and its clauses.

Citizens put two questions in one message ("海宁人才绿卡发给谁？健康体检又是给谁的", "我的补贴批下来
没有，另外人才公寓怎么申请") and tell their situation before they ask. Words that join a second
question ("另外", "还有", "顺便问一下") end a part like punctuation does.
"""

from __future__ import annotations

import re
from typing import List

_JOINERS = "另外|还有|以及|同时|顺便问一下|顺便问下|顺便"
# Where one question ends and another may begin (not at a comma: "要不要抵押，多久能放款"
# asks about one programme).
_QUESTION_ENDS = re.compile(rf"[?？!！。;；]+|(?:{_JOINERS})")
# Where a clause ends: also at commas, colons and spaces.
_CLAUSE_ENDS = re.compile(rf"[,，。.？?！!；;：:~～\s]+|(?:{_JOINERS})")


def questions(text: str) -> List[str]:
    """The parts of a normalised message that may each be a question of their own."""
    return [part for part in _QUESTION_ENDS.split(text or "") if part.strip()]


def clauses(text: str) -> List[str]:
    """The clauses of a normalised message."""
    return [part for part in _CLAUSE_ENDS.split(text or "") if part.strip()]
