"""Turn a resolution into the assistant's replies: answer first, then details, then basis.

Replies are plain text (channels render them), each at most MAX_REPLY_CHARS so that a phone
screen shows one without scrolling; a long answer becomes several replies.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

from bot.kb.loader import KnowledgeBase
from bot.kb.models import ASPECTS, PolicyEntry
from bot.kb.resolve import MIN_DETAIL_IDF, Kind, Resolution
from bot.kb.search import KBSearch, is_gap

MAX_REPLY_CHARS = 300
SUPPORTING_FACTS = 3
LIST_FACTS = 5
SAME_FACT_RATIO = 0.8
# A list of this many entries or fewer shows each entry's overview.
SIDE_BY_SIDE = 2
MAX_BUTTONS = 4
LIST_BUTTONS = 6
# A list line's key figure is cut to this many characters.
LIST_FACT_CHARS = 36
MIN_SUBSTANCE_CHARS = 8
# Where a list line's fact about the question may come from (not the city's results).
FACT_FIELDS = ("amounts", "conditions", "materials", "process", "contact", "basis", "notes")


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


def key_fact(entry: PolicyEntry) -> str:
    """The figure a list line shows: the first amount, else the summary, cut short."""
    # The summary's first clause: the rest may only say what the sources leave open.
    amounts = [a for a in entry.amounts if not is_gap(a)]
    fact = amounts[0] if amounts else re.split(r"[；;。]", entry.summary)[0]
    _, colon, substance = fact.partition("：")
    if colon and len(substance) >= MIN_SUBSTANCE_CHARS:
        # "海宁由……协同解决引进人才子女就学：按“免试就近入学”原则……": what follows the
        # colon is what the programme does.
        fact = substance
    return cut_short(fact)


def cut_short(fact: str) -> str:
    if len(fact) <= LIST_FACT_CHARS:
        return fact
    cut = LIST_FACT_CHARS - 1
    while cut > 0 and (fact[cut - 1].isdigit() or fact[cut - 1] == ".") and fact[cut].isdigit():
        cut -= 1  # never cut a figure in two ("3000万" must not read "300…")
    return fact[:cut] + "…"


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


def new_facts(entry: PolicyEntry, fields: Sequence[str]) -> List[str]:
    """The facts of the given fields, in order, that the summary does not already say,
    without notes on what the sources leave open (background is never among the fields)."""
    facts = [fact for name in fields for fact in getattr(entry, name)]
    return [f for f in facts if f.rstrip("。.；;") not in entry.summary and not is_gap(f)]


def supporting_facts(entry: PolicyEntry, limit: int = SUPPORTING_FACTS) -> List[str]:
    """What a citizen gets and must do, beyond the summary: amounts first, then conditions."""
    return new_facts(entry, ("amounts", "conditions"))[:limit]


def said(fact: str, other: str) -> bool:
    """Whether two facts say the same in nearly the same words (the sample entries repeat
    some facts across fields: "书面材料线下一次性审查确认" / "书面材料在线下一次性审查确认")."""
    return difflib.SequenceMatcher(None, fact, other).ratio() >= SAME_FACT_RATIO


# The facts of an entry a citizen can use, in this field order (a list question's answer).
CITIZEN_FIELDS = ("amounts", "conditions", "materials", "process", "contact", "notes")


def aspect_buttons(entry: PolicyEntry, exclude: Sequence[str] = ()) -> List[Dict[str, str]]:
    """Buttons for the other aspects the entry has content for (never an empty one)."""
    keys = [
        key for key in ASPECTS if key not in exclude and key != "basis" and entry.has_aspect(key)
    ]
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
        if res.kind is Kind.LIST:
            return self._list(res)
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
        """The fact that answers the question first, from whichever field holds it; the
        aspect asked is a preference, not a filter. "Not in the knowledge base" only when no
        fact of the entry matches, and then with the closest facts and where to ask."""
        entry = res.entry
        assert entry is not None
        title = display_title(entry)
        lines: List[str] = []
        if res.missing_region:
            lines.append(
                f"知识库中暂未收录{res.missing_region}的此项政策，以下是{entry.region}的相关信息："
            )
        shown: List[str] = []
        if res.asks_background:
            # "多少人拿到了", "面积多大": the city's results, or the fact with the figure asked.
            found = self.search.best_sentences(
                entry, res.detail_terms, limit=2, fields=("background",)
            ) or self.search.best_sentences(entry, res.detail_terms, limit=1, with_summary=True)
            results = [s for _, s in found] or list(entry.background[:2])
            if results:
                header = "实施情况" if entry.background else "相关情况"
                lines += [f"关于{title}的{header}：", *results]
                shown += results
        for key in res.aspects:
            if shown and not entry.aspect_items(key):
                continue  # the results answered it; "暂未载明" would contradict them
            lines += self._aspect_lines(entry, key, res.detail_terms, shown)
        if not res.aspects and not shown:
            sentences = (
                self.search.best_sentences(
                    entry,
                    res.detail_terms,
                    limit=2,
                    with_summary=True,
                    background=res.asks_background,
                )
                if res.detail_terms
                else []
            )
            if res.wants_list:
                # "有哪些功能", "都有哪些礼遇": every fact a citizen can use, matching first.
                lines.append(f"【{title}】")
                lines.append(entry.summary)
                facts: List[str] = []
                # What the list is of ("功能" in "一站式平台有哪些功能"), not the entry's name.
                kind = self._detail_of(entry, res.detail_terms)
                listed = self.search.best_sentences(entry, kind, limit=2) if kind else sentences
                matched = [s for f, s in listed if f not in ("summary", "background")]
                for fact in matched + new_facts(entry, CITIZEN_FIELDS):
                    if not is_gap(fact) and not any(said(fact, f) for f in facts):
                        facts.append(fact)
                lines.extend(f"· {fact}" for fact in facts[:LIST_FACTS])
            elif sentences and sentences[0][0] != "summary":
                # The matching facts answer the question; the summary frames them.
                lines.append(f"关于{title}：")
                lines.extend(s for field, s in sentences if field != "summary")
                lines.append(f"简介：{entry.summary}")
            else:
                lines.append(f"【{title}】")
                lines.append(entry.summary)
                lines.extend(f"· {fact}" for fact in supporting_facts(entry))
        elif res.aspects and res.detail_terms:
            # A second question in the same message ("要不要抵押，多久能放款"): its facts too.
            extra = self.search.best_sentences(entry, res.detail_terms, limit=1, skip=shown)
            lines.extend(
                s
                for field, s in extra
                if field not in ("audience", "summary") and not any(said(s, f) for f in shown)
            )
        lines.append(basis_line(entry))
        return self._pack(lines, aspect_buttons(entry, exclude=res.aspects))

    def _aspect_lines(
        self, entry: PolicyEntry, key: str, terms: Sequence[str], shown: List[str]
    ) -> List[str]:
        title = display_title(entry)
        label = ASPECTS[key].label
        if key == "basis":
            lines = [f"{title}的{label}：", basis_line(entry)]
            if entry.basis:
                lines.append(f"信息来源：《{entry.source.document}》{entry.source.section}")
            return lines[:2] if len(lines) > 2 and shown else lines
        items = entry.aspect_items(key)
        if items:
            shown.extend(items)
            return [f"{title}的{label}：", *(f"{i}. {item}" for i, item in enumerate(items, 1))]
        where = where_to_ask(entry, self.kb).rstrip("。")
        found = self.search.best_sentences(entry, terms, limit=2, skip=shown, with_summary=True)
        if found:
            shown.extend(s for _, s in found)
            return [
                f"关于{title}：",
                *(s for _, s in found),
                f"现有资料未载明具体的{label}，详情建议您咨询：{where}。",
            ]
        shown.append(entry.summary)
        return [
            f"现有资料暂未载明{title}的{label}。建议您咨询：{where}。",
            f"相关信息：{entry.summary}",
        ]

    @staticmethod
    def _pack(lines: Sequence[str], buttons: List[Dict[str, str]]) -> List[Reply]:
        replies = [Reply(text) for text in _split(lines)]
        replies[-1].buttons = buttons
        return replies

    def _list(self, res: Resolution) -> List[Reply]:
        """One line per entry, grouped by city, each with its key figure; buttons for details.
        Two entries compared side by side ("留创园和飞地孵化载体有什么不一样") get an overview
        each instead: a line each would say too little to compare."""
        if len(res.candidates) <= SIDE_BY_SIDE:
            replies: List[Reply] = []
            for entry in res.candidates:
                # Each answered for what was asked of both ("各有多少人拿到了").
                replies += self._answer(
                    Resolution(
                        Kind.ANSWER,
                        entry=entry,
                        aspects=res.aspects,
                        detail_terms=self._detail_of(entry, res.detail_terms),
                        asks_background=res.asks_background,
                    )
                )
            return replies
        lines = ["为您找到以下相关政策："]
        city = None
        for n, entry in enumerate(res.candidates, 1):
            if entry.region != city:
                city = entry.region
                lines.append(f"【{city}】")
            fact = self._focused_fact(entry, res.detail_terms) or key_fact(entry)
            lines.append(f"{n}. {display_title(entry)}：{fact}")
        lines.append("请点击下方按钮或告诉我名称，查看某一项的条件、金额和办理方式。")
        buttons = [
            {"title": display_title(e), "payload": payload("ask_policy", policy=e.id)}
            for e in res.candidates[:LIST_BUTTONS]
        ]
        return self._pack(lines, buttons)

    def _detail_of(self, entry: PolicyEntry, terms: Sequence[str]) -> Tuple[str, ...]:
        """The question's informative words beyond the entry's own names."""
        names = "".join((entry.title, *entry.aliases))
        return tuple(t for t in terms if t not in names and self.search.idf(t) >= MIN_DETAIL_IDF)

    def _focused_fact(self, entry: PolicyEntry, terms: Sequence[str]) -> str:
        """The entry's fact about what the list question asks ("给创业的载体" -> the
        incubator's size), when the question says more than the entry's name."""
        asked = self._detail_of(entry, terms)
        if not asked:
            return ""
        found = self.search.best_sentences(entry, asked, limit=2, fields=FACT_FIELDS)
        facts = [sentence for _, sentence in found if not is_gap(sentence)]
        return cut_short(facts[0]) if facts else ""

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
        # Each candidate with its key figure: often enough to answer without a click.
        lines = ["您想了解的是下面哪一项？请点击选择："]
        lines += [
            f"{n}. {display_title(e)}：{key_fact(e)}" for n, e in enumerate(res.candidates[:3], 1)
        ]
        return Reply("\n".join(lines), buttons)

    def _region_buttons(self) -> List[Dict[str, str]]:
        return [
            {"title": r.name, "payload": payload("inform_region", region=r.name)}
            for r in self.kb.vocabulary.regions
        ]

    def _topic_buttons(self) -> List[Dict[str, str]]:
        return [{"title": t, "payload": t} for t in ("购房补贴", "人才公寓", "子女入学", "人才贷")]
