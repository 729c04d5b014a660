"""Typed form of a knowledge-base entry (see docs/knowledge-base.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class Aspect:
    """One thing a citizen asks about a policy, and the entry field that answers it."""

    key: str
    label: str


# Order matters: it is the order of the buttons under an overview.
ASPECTS: Dict[str, Aspect] = {
    "conditions": Aspect("conditions", "申请条件"),
    "amounts": Aspect("amounts", "标准和金额"),
    "materials": Aspect("materials", "所需材料"),
    "process": Aspect("process", "办理流程"),
    "contact": Aspect("contact", "办理地点和联系方式"),
    "basis": Aspect("basis", "政策依据"),
}

REGIONS = ("海宁市", "张家港市")
CATEGORIES = ("政策服务", "生产服务", "生活服务")


@dataclass(frozen=True)
class Source:
    document: str
    section: str


@dataclass(frozen=True)
class PolicyEntry:
    """A policy, programme or service of one city."""

    id: str
    sample: bool
    region: str
    title: str
    aliases: Tuple[str, ...]
    category: str
    audience: str
    summary: str
    amounts: Tuple[str, ...]
    conditions: Tuple[str, ...]
    materials: Tuple[str, ...]
    process: Tuple[str, ...]
    contact: Tuple[str, ...]
    basis: Tuple[str, ...]
    source: Source
    checked: dt.date
    notes: Tuple[str, ...] = field(default=())
    # The city's results rather than what a citizen gets or must do (beneficiaries, totals
    # paid, statistics): never leads an answer, quoted only when a question asks for it.
    background: Tuple[str, ...] = field(default=())

    def aspect_items(self, aspect: str) -> Tuple[str, ...]:
        """The items that answer an aspect; conditions include who the policy is for."""
        if aspect == "conditions":
            return (f"适用对象：{self.audience}", *self.conditions)
        return tuple(getattr(self, aspect))

    def has_aspect(self, aspect: str) -> bool:
        return bool(getattr(self, aspect)) or aspect == "conditions"

    @property
    def names(self) -> Tuple[str, ...]:
        """Title and aliases: every name the entry is known by."""
        return (self.title, *self.aliases)
