"""Turn a resolution into the assistant's replies: answer first, then details, then basis.

Replies are plain text (channels render them), each at most MAX_REPLY_CHARS so that a phone
screen shows one without scrolling; a long answer becomes several replies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from bot.kb.loader import KnowledgeBase
from bot.kb.models import ASPECTS, PolicyEntry
from bot.kb.resolve import Kind, Resolution
from bot.kb.search import KBSearch

MAX_REPLY_CHARS = 300
OVERVIEW_AMOUNTS = 2
MAX_BUTTONS = 4


@dataclass
class Reply:
    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)


def payload(intent: str, **entities: str) -> str:
    """A Rasa button payload, e.g. ``/ask_policy{"policy": "zjg_talent_loan"}``."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}"


def display_title(entry: PolicyEntry) -> str:
    """The title, with the city in front when the title does not already say it."""
    short = entry.region.rstrip("市")
    return entry.title if short in entry.title else f"{entry.region}{entry.title}"


def basis_line(entry: PolicyEntry) -> str:
    if entry.basis:
        line = "依据：" + "".join(f"《{doc}》" for doc in entry.basis)
    else:
        line = f"依据：现有资料未列明具体政策文件，信息来源于《{entry.source.document}》"
    if entry.sample:
        line += f"（示例数据，具体以{entry.region}主管部门最新发布为准）"
    return line


def where_to_ask(entry: PolicyEntry, kb: KnowledgeBase) -> str:
    if entry.contact:
        return "；".join(entry.contact)
    region = kb.vocabulary.region(entry.region)
    return region.office if region else entry.region


def _split(lines: Sequence[str], limit: int = MAX_REPLY_CHARS) -> List[str]:
    """Packs lines into messages of at most ``limit`` characters, never splitting a line
    unless it alone is longer than the limit."""
    messages: List[str] = []
    current = ""
    for line in lines:
        while len(line) > limit:
            if current:
                messages.append(current)
                current = ""
            messages.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            messages.append(current)
            current = line
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages


def aspect_buttons(entry: PolicyEntry, exclude: Optional[str] = None) -> List[Dict[str, str]]:
    """Buttons for the other aspects the entry has; "where to go" is always offered."""
    keys = [
        key for key in ASPECTS if key not in (exclude, "basis", "contact") and entry.has_aspect(key)
    ]
    if exclude != "contact":
        keys = [*keys[: MAX_BUTTONS - 1], "contact"]
    return [
        {"title": ASPECTS[key].label, "payload": payload("ask_policy", policy=entry.id, aspect=key)}
        for key in keys[:MAX_BUTTONS]
    ]


class AnswerComposer:
    def __init__(self, kb: KnowledgeBase, search: KBSearch) -> None:
        self.kb = kb
        self.search = search

    def compose(self, res: Resolution) -> List[Reply]:
        if res.kind is Kind.ANSWER and res.entry is not None:
            return self._answer(res)
        if res.kind is Kind.ASK_REGION:
            return [self._ask_region(res)]
        if res.kind is Kind.CHOOSE:
            return [self._choose(res)]
        if res.kind is Kind.OUT_OF_AREA:
            return [
                Reply(
                    "抱歉，本助手目前只提供海宁市和张家港市的人才政策咨询，"
                    "其他城市的政策建议您咨询当地人才服务部门。",
                    self._region_buttons(),
                )
            ]
        if res.kind is Kind.NEED_TOPIC:
            return [
                Reply(
                    "请问您想了解哪一项政策或服务？例如：购房补贴、人才公寓、子女入学、人才贷。",
                    self._topic_buttons(),
                )
            ]
        lines = ["抱歉，知识库里暂时没有找到与您的问题相符的政策。"]
        if res.missing_region:
            lines = [f"抱歉，知识库里暂未收录{res.missing_region}的相关政策。"]
        lines.append("您可以换个说法再问，或转人工服务，由专员为您解答。")
        return [
            Reply("".join(lines), [{"title": "转人工服务", "payload": payload("request_human")}])
        ]

    def _answer(self, res: Resolution) -> List[Reply]:
        entry = res.entry
        assert entry is not None
        title = display_title(entry)
        lines: List[str] = []
        if res.missing_region:
            lines.append(
                f"知识库中暂未收录{res.missing_region}的此项政策，以下是{entry.region}的相关信息："
            )
        buttons: List[Dict[str, str]]
        if res.aspect:
            aspect = ASPECTS[res.aspect]
            items = entry.aspect_items(res.aspect)
            if res.aspect == "basis":
                lines.append(f"{title}的{aspect.label}：")
                lines.append(basis_line(entry))
                if entry.basis:
                    lines.append(f"信息来源：《{entry.source.document}》{entry.source.section}")
                return self._pack(lines, aspect_buttons(entry, exclude="basis"))
            if items:
                lines.append(f"{title}的{aspect.label}：")
                lines.extend(f"{i}. {item}" for i, item in enumerate(items, 1))
            else:
                where = where_to_ask(entry, self.kb).rstrip("。")
                lines.append(f"现有资料暂未载明{title}的{aspect.label}。建议您咨询：{where}。")
            buttons = aspect_buttons(entry, exclude=res.aspect)
        else:
            sentences = (
                self.search.best_sentences(entry, res.detail_terms) if res.detail_terms else []
            )
            if sentences:
                # The matching sentences answer the question; the summary frames them.
                lines.append(f"关于{title}：")
                lines.extend(s for _, s in sentences)
                lines.append(f"简介：{entry.summary}")
            else:
                lines.append(f"【{title}】")
                lines.append(entry.summary)
                lines.extend(f"· {a}" for a in entry.amounts[:OVERVIEW_AMOUNTS])
            buttons = aspect_buttons(entry)
        lines.append(basis_line(entry))
        return self._pack(lines, buttons)

    @staticmethod
    def _pack(lines: Sequence[str], buttons: List[Dict[str, str]]) -> List[Reply]:
        replies = [Reply(text) for text in _split(lines)]
        replies[-1].buttons = buttons
        return replies

    def _ask_region(self, res: Resolution) -> Reply:
        topic = res.candidates[0].aliases[0] if res.candidates else "该政策"
        cities = sorted({e.region for e in res.candidates}) or [
            r.name for r in self.kb.vocabulary.regions
        ]
        return Reply(
            f"海宁市和张家港市都有“{topic}”相关政策，请问您想了解哪个城市的？",
            [{"title": c, "payload": payload("inform_region", region=c)} for c in cities],
        )

    def _choose(self, res: Resolution) -> Reply:
        buttons = []
        for entry in res.candidates[:3]:
            entities = {"policy": entry.id}
            if res.aspect:
                entities["aspect"] = res.aspect
            buttons.append(
                {"title": display_title(entry), "payload": payload("ask_policy", **entities)}
            )
        return Reply("您想了解的是下面哪一项？请点击选择：", buttons)

    def _region_buttons(self) -> List[Dict[str, str]]:
        return [
            {"title": r.name, "payload": payload("inform_region", region=r.name)}
            for r in self.kb.vocabulary.regions
        ]

    def _topic_buttons(self) -> List[Dict[str, str]]:
        return [{"title": t, "payload": t} for t in ("购房补贴", "人才公寓", "子女入学", "人才贷")]
