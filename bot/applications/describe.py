"""Plain-language replies about one verified application: status first, then the details.

Only masked personal data is written (name 王*明, number HN-******103); the phone never.
What the export does not say (no expected date, no department) is said to be unknown,
with where to ask, never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from bot.applications.privacy import mask_application_no, mask_name
from bot.db.models import Application
from bot.text.clauses import clauses

# What each status means for the citizen, and what comes next.
STATUS_MEANING: Dict[str, str] = {
    "已提交": "申请已提交，正在等待经办部门受理",
    "已受理": "申请已受理，即将进入审核",
    "审核中": "申请正在审核中",
    "待补件": "申请需要补交材料",
    "公示中": "申请已通过审核，正在公示",
    "已通过": "申请已审批通过",
    "已驳回": "申请未通过审核",
    "已发放": "补贴或待遇已发放，办理已完成",
}
NEXT_STEP: Dict[str, str] = {
    "已提交": "经办部门核对材料后受理，受理后进入审核。",
    "已受理": "经办部门将对材料进行审核。",
    "审核中": "审核完成后将进入公示或审批环节，结果会在系统中更新。",
    "待补件": "请按下列清单补交材料，补齐后继续审核。",
    "公示中": "公示期满无异议后进入审批，审批通过后按规定办理。",
    "已通过": "请留意经办部门的通知；涉及资金的，将按程序发放。",
    "已驳回": "如需了解未通过的原因或对结果有异议，请联系经办部门，也可转人工专员协助。",
    "已发放": "本事项已办结，无需再办理其他手续。",
}
FINAL_STATUSES = ("已驳回", "已发放")

# Follow-up topics a citizen may ask about a verified application.
FOLLOWUP_TOPICS = ("status", "materials", "timing", "contact", "reason", "next")
_TOPIC_CUES = {
    "reason": ("为什么", "为啥", "原因", "凭什么", "驳回", "没通过", "没批"),
    "materials": ("材料", "补什么", "补交", "补哪", "缺什么", "还差", "补件", "资料", "证明"),
    "timing": ("什么时候", "多久", "几天", "多长时间", "何时", "到账", "哪天", "啥时候", "时间"),
    "contact": ("找谁", "电话", "部门", "联系", "哪里", "在哪", "去哪", "窗口", "地址", "谁办"),
    "next": ("下一步", "接下来", "然后呢", "之后", "还要做", "要做什么", "还需要做"),
}


# Words that ask about one's own application rather than a policy ("我的补贴批下来没有").
STATUS_CUES = (
    "批下来", "批了没", "批了吗", "批没批", "下来没", "审核到", "审到哪", "办到哪", "到哪一步",
    "通过了吗", "通过没", "查一下我的", "查查我的", "我的申请", "申请编号", "受理编号",
    "到账了", "发下来", "申请进度", "办理进度", "审核进度",
)  # fmt: skip
_DIGIT_RUN = re.compile(r"\d{4}")


def asks_status(text: str) -> bool:
    """Whether a message (or one of its clauses) asks about the citizen's own application."""
    return any(cue in (text or "") for cue in STATUS_CUES)


def policy_clauses(text: str) -> str:
    """The clauses of a message that do not ask about the citizen's application: the policy
    question asked beside a status request ("我的购房补贴批下来没有，另外人才公寓怎么申请")."""
    # A clause with an application number or phone digits belongs to the lookup too.
    kept = [c for c in clauses(text) if not asks_status(c) and not _DIGIT_RUN.search(c)]
    return "，".join(kept)


def followup_topic(text: str, hint: Optional[str] = None) -> str:
    """The topic of a follow-up question; ``hint`` comes from a button payload."""
    if hint in FOLLOWUP_TOPICS:
        return hint
    for topic in ("reason", "materials", "timing", "contact", "next"):
        if any(cue in (text or "") for cue in _TOPIC_CUES[topic]):
            return topic
    return "status"


def format_date(value: Optional[dt.date]) -> str:
    if value is None:
        return ""
    text = f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, dt.datetime) and (value.hour, value.minute) != (0, 0):
        text += f" {value.hour:02d}:{value.minute:02d}"
    return text


@dataclass(frozen=True)
class Office:
    """Where to go and whom to ask for an application's item (from the KB and vocabulary)."""

    department: Optional[str]
    contacts: Sequence[str] = ()
    office: Optional[str] = None


class ApplicationDescriber:
    def __init__(self, today: Optional[dt.date] = None) -> None:
        self._today = today

    def today(self) -> dt.date:
        if self._today is not None:
            return self._today
        return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()

    # -- pieces --------------------------------------------------------------------------

    def headline(self, app: Application) -> str:
        meaning = STATUS_MEANING.get(app.status, "")
        return (
            f"您的「{app.item}」申请（编号 {mask_application_no(app.application_no)}，"
            f"申请人 {mask_name(app.applicant_name)}）当前状态：【{app.status}】，{meaning}。"
        )

    def dates(self, app: Application) -> str:
        return (
            f"提交时间：{format_date(app.submitted_at)}；最近更新：{format_date(app.updated_at)}。"
        )

    def timeline(self, app: Application) -> str:
        if not app.events:
            return "办理进度：暂无详细记录。"
        lines = ["办理进度："]
        for event in app.events:
            note = f"（{event.note}）" if event.note else ""
            lines.append(f"· {format_date(event.occurred_at)} {event.status}{note}")
        return "\n".join(lines)

    def materials(self, app: Application, office: Office) -> str:
        items = app.missing_materials_list()
        if app.status != "待补件" and not items:
            return f"您的申请当前为【{app.status}】，不需要补交材料。"
        if not items:
            return (
                "您的申请需要补交材料，但系统中没有列出具体清单，"
                f"请向{self._department(app, office)}确认。"
            )
        lines = [f"还需要补交 {len(items)} 项材料："]
        lines += [f"{i}. {item}" for i, item in enumerate(items, 1)]
        lines.append(f"补交地点：{self._department(app, office)}。")
        return "\n".join(lines)

    def timing(self, app: Application) -> str:
        if app.status in FINAL_STATUSES:
            return f"您的申请已于 {format_date(app.updated_at)} 办结（{app.status}）。"
        if app.expected_done_at is None:
            return (
                "经办部门尚未给出预计办结时间，办理进度以系统更新为准；"
                "如较为着急，可联系经办部门询问。"
            )
        when = format_date(app.expected_done_at)
        if app.expected_done_at < self.today():
            return f"预计办结日期为 {when}，目前已过该日期仍未办结，建议您联系经办部门了解原因。"
        return f"预计 {when} 前办结。"

    def contact(self, app: Application, office: Office) -> str:
        lines = [f"经办部门：{self._department(app, office)}。"]
        if office.contacts:
            lines.append("办理地点和联系方式：" + "；".join(office.contacts) + "。")
        elif office.office:
            lines.append(f"咨询渠道：{office.office}。")
        return "\n".join(lines)

    def next_step(self, app: Application) -> str:
        return "下一步：" + NEXT_STEP.get(app.status, "请留意经办部门的通知。")

    def reason(self, app: Application, office: Office) -> str:
        if app.status != "已驳回":
            return f"您的申请当前为【{app.status}】，并未被驳回。"
        if app.note:
            return f"经办部门的说明：{app.note}。如有异议，请联系{self._department(app, office)}。"
        return f"系统中没有记录驳回原因，请联系{self._department(app, office)}了解。"

    @staticmethod
    def _department(app: Application, office: Office) -> str:
        return app.department or office.department or office.office or "当地人才服务窗口"

    # -- whole replies -------------------------------------------------------------------

    def summary(self, app: Application, office: Office) -> List[str]:
        """The reply after a successful check: status first, then the details that matter."""
        parts = [self.headline(app), self.dates(app), self.timeline(app)]
        step = self.next_step(app)
        if app.status == "待补件":
            step += "\n" + self.materials(app, office)
        if app.status not in FINAL_STATUSES:
            step += "\n" + self.timing(app)
        parts.append(step)
        if app.note:
            parts.append(f"备注：{app.note}")
        parts.append(self.contact(app, office))
        return ["\n".join(parts)]

    def followup(self, app: Application, office: Office, topic: str) -> List[str]:
        label = f"关于您的「{app.item}」申请（{mask_application_no(app.application_no)}）："
        if topic == "materials":
            body = self.materials(app, office)
        elif topic == "timing":
            body = self.timing(app)
        elif topic == "contact":
            body = self.contact(app, office)
        elif topic == "reason":
            body = self.reason(app, office)
        elif topic == "next":
            body = self.next_step(app)
            if app.status == "待补件":
                body += "\n" + self.materials(app, office)
        else:
            return self.summary(app, office)
        return [label + "\n" + body]
