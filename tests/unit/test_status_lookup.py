"""The status lookup library: reading numbers from text, verification, lockout, audit,
replies and the masking of logs."""

from __future__ import annotations

import datetime as dt
import logging
from typing import List

import pytest
from sqlalchemy import select

from bot.applications.describe import ApplicationDescriber, Office, followup_topic
from bot.applications.extract import extract, normalize_application_no
from bot.applications.lookup import (
    FAILURE_WINDOW,
    LOCK_DURATION,
    MAX_FAILURES,
    NUMBER_MAX_FAILURES,
    ApplicationLookup,
)
from bot.applications.service import StatusService
from bot.db import LookupAudit, session_scope
from bot.kb.service import get_policy_service
from bot.log_privacy import install, mask_text


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lookup(sample_db: str, clock: Clock) -> ApplicationLookup:
    return ApplicationLookup("unit-test-key", sample_db, clock)


def audit_rows(url: str) -> List[LookupAudit]:
    with session_scope(url) as session:
        return list(session.execute(select(LookupAudit).order_by(LookupAudit.id)).scalars())


# -- extraction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expecting, number, digits",
    [
        ("HN-2024-00103 0003", None, "HN-2024-00103", "0003"),
        ("编号hn-2024-00103，尾号0003", None, "HN-2024-00103", "0003"),
        ("申請編號ＨＮ－２０２４－００１０３，手機後四位０００３", None, "HN-2024-00103", "0003"),
        ("帮我查一下 ZJG-2024-00202 的进度", None, "ZJG-2024-00202", None),
        ("0003", "phone_last4", None, "0003"),
        ("尾号是 0003", "application_no", None, "0003"),
        ("我2024年申请的购房补贴", None, None, None),
        ("2024-05-01 提交的", None, None, None),
        ("20240501", "application_no", None, None),
        ("受理号 HN202400103", None, "HN202400103", None),
    ],
)
def test_extract_finds_number_and_digits(
    text: str, expecting: str, number: str, digits: str
) -> None:
    found = extract(text, expecting)
    assert (found.application_no, found.phone_last4) == (number, digits)


def test_full_phone_gives_the_digits_and_is_never_a_number() -> None:
    found = extract("我手机号13800000003", "phone_last4")
    assert found.full_phone_given and found.phone_last4 == "0003"
    assert found.application_no is None
    assert extract("13800000003", "application_no").application_no is None


@pytest.mark.parametrize(
    "text, expecting, malformed_no, malformed_digits",
    [
        ("0003", "application_no", True, False),
        ("HN-2024-00103-" + "9" * 40, "application_no", True, False),
        ("123", "phone_last4", False, True),
        ("123456", "phone_last4", False, True),
        ("不知道", "application_no", False, False),
        ("' OR 1=1 --", "application_no", False, False),
    ],
)
def test_extract_flags_what_cannot_be_a_number(
    text: str, expecting: str, malformed_no: bool, malformed_digits: bool
) -> None:
    found = extract(text, expecting)
    assert found.malformed_application_no is malformed_no
    assert found.malformed_last4 is malformed_digits


def test_sql_looking_input_is_only_text() -> None:
    found = extract("HN-2024-00103'; DROP TABLE applications;--", "application_no")
    assert found.application_no == "HN-2024-00103"
    assert normalize_application_no("1' or '1'='1") is None


# -- verification, lockout and audit ------------------------------------------------------


def test_matching_pair_returns_the_application(lookup: ApplicationLookup, sample_db: str) -> None:
    result = lookup.check("conv-1", "hn-2024-00103", "0003", "rest")
    assert result.found and result.application is not None
    assert result.application.status == "待补件"
    assert next(e.status for e in result.application.events) == "已提交"
    (row,) = audit_rows(sample_db)
    assert (row.outcome, row.channel, row.conversation_id) == ("found", "rest", "conv-1")
    assert row.application_no_masked == "HN-*******103"
    assert row.application_no_digest == lookup.digest("HN-2024-00103")


def test_wrong_digits_and_unknown_number_look_the_same(
    lookup: ApplicationLookup, sample_db: str
) -> None:
    wrong = lookup.check("conv-a", "HN-2024-00103", "9999")
    unknown = lookup.check("conv-b", "HN-2099-99999", "0003")
    assert wrong == unknown
    assert wrong.outcome == "failed" and wrong.application is None
    assert [r.outcome for r in audit_rows(sample_db)] == ["mismatch", "not_found"]


def test_three_failures_lock_the_conversation_for_30_minutes(
    lookup: ApplicationLookup, clock: Clock, sample_db: str
) -> None:
    lefts = []
    for _ in range(MAX_FAILURES - 1):
        result = lookup.check("conv-x", "HN-2024-00103", "1111")
        lefts.append(result.attempts_left)
        clock.advance(minutes=5)
    assert lefts == [2, 1]
    third = lookup.check("conv-x", "HN-2024-00103", "2222")
    assert third.outcome == "locked" and third.locked_until == clock.now + LOCK_DURATION
    # Even the right digits are refused while locked, and nothing is read.
    clock.advance(minutes=29)
    refused = lookup.check("conv-x", "HN-2024-00103", "0003")
    assert refused.outcome == "locked" and refused.application is None
    # Another conversation is not affected.
    assert lookup.check("conv-y", "HN-2024-00103", "0003").found
    clock.advance(minutes=1, seconds=1)
    assert lookup.conversation_locked_until("conv-x") is None
    assert lookup.check("conv-x", "HN-2024-00103", "0003").found
    outcomes = [r.outcome for r in audit_rows(sample_db) if r.conversation_id == "conv-x"]
    assert outcomes == ["mismatch", "mismatch", "mismatch", "locked", "found"]


def test_failures_spread_over_more_than_the_window_do_not_lock(
    lookup: ApplicationLookup, clock: Clock
) -> None:
    for _ in range(MAX_FAILURES + 1):
        result = lookup.check("conv-slow", "HN-2024-00103", "1111")
        assert result.outcome == "failed"
        clock.advance(seconds=FAILURE_WINDOW.total_seconds() / 2 + 60)


def test_guessing_one_number_from_many_conversations_is_limited(
    lookup: ApplicationLookup, clock: Clock
) -> None:
    for i in range(NUMBER_MAX_FAILURES):
        assert lookup.check(f"guess-{i}", "HN-2024-00103", f"{i + 5000:04d}").outcome == "failed"
    assert lookup.check("guess-new", "HN-2024-00103", "0003").outcome == "locked"
    # An unknown number is limited the same way, so the lock says nothing about existence.
    for i in range(NUMBER_MAX_FAILURES):
        lookup.check(f"other-{i}", "HN-2099-00001", f"{i:04d}")
    assert lookup.check("other-new", "HN-2099-00001", "0003").outcome == "locked"
    clock.advance(hours=24, minutes=1)
    assert lookup.check("guess-later", "HN-2024-00103", "0003").found


def test_invalid_input_is_audited_but_not_counted(
    lookup: ApplicationLookup, sample_db: str
) -> None:
    for _ in range(MAX_FAILURES + 1):
        assert lookup.check("conv-bad", "x'; --", "12").outcome == "invalid"
    assert lookup.conversation_locked_until("conv-bad") is None
    assert {r.outcome for r in audit_rows(sample_db)} == {"invalid"}


def test_audit_never_holds_personal_data(lookup: ApplicationLookup, sample_db: str) -> None:
    lookup.check("conv-1", "HN-2024-00103", "0003")
    lookup.check("conv-1", "ZJG-2024-00202", "1234")
    for row in audit_rows(sample_db):
        values = " ".join(str(v) for v in vars(row).values())
        for secret in ("HN-2024-00103", "ZJG-2024-00202", "0003", "1234", "王演示", "13800000003"):
            assert secret not in values


# -- replies -----------------------------------------------------------------------------


@pytest.fixture
def status_service(lookup: ApplicationLookup) -> StatusService:
    return StatusService(lookup, get_policy_service(), ApplicationDescriber(dt.date(2024, 5, 1)))


def test_summary_of_missing_materials(status_service: StatusService) -> None:
    app = status_service.check("c", "HN-2024-00103", "0003", None).application
    assert app is not None
    (text,) = status_service.summary(app)
    assert text.startswith("您的「人才租房补贴」申请")
    assert "【待补件】" in text and "王*示" in text and "HN-*******103" in text
    assert "1. 近6个月社保缴纳证明" in text and "2. 房屋租赁合同复印件" in text
    assert "补交地点：海宁市人力资源和社会保障局" in text
    assert "提交时间：2024年4月11日" in text and "最近更新：2024年4月26日 11:51" in text
    assert "办理进度：" in text and "下一步" in text
    assert "王演示" not in text and "13800000003" not in text and "HN-2024-00103" not in text


def test_followups_answer_from_the_record(status_service: StatusService) -> None:
    app = status_service.check("c", "HN-2024-00102", "0002", None).application
    assert app is not None
    (timing,) = status_service.followup(app, "timing")
    assert "预计 2024年7月15日 前办结" in timing
    (materials,) = status_service.followup(app, "materials")
    assert "不需要补交材料" in materials
    (contact,) = status_service.followup(app, "contact")
    assert "经办部门：海宁市人力资源和社会保障局" in contact


def test_rejected_application_gives_its_reason_or_where_to_ask(
    status_service: StatusService,
) -> None:
    app = status_service.check("c", "ZJG-2024-00205", "0020", None).application
    assert app is not None
    (reason,) = status_service.followup(app, "reason")
    assert "经办部门的说明：经审核不符合申请条件" in reason
    app = status_service.check("c", "HN-2024-00103", "0003", None).application
    assert app is not None
    (reason,) = status_service.followup(app, "reason")
    assert "并未被驳回" in reason


def test_overdue_expected_date_is_said(sample_db: str, clock: Clock) -> None:
    lookup = ApplicationLookup("k", sample_db, clock)
    service = StatusService(lookup, get_policy_service(), ApplicationDescriber(dt.date(2026, 1, 1)))
    app = service.check("c", "HN-2024-00102", "0002", None).application
    assert app is not None
    assert "已过该日期" in service.describer.timing(app)


@pytest.mark.parametrize(
    "text, topic",
    [
        ("我还要补什么材料", "materials"),
        ("什么时候能办好", "timing"),
        ("钱什么时候到账", "timing"),
        ("找谁办", "contact"),
        ("为什么被驳回了", "reason"),
        ("下一步是什么", "next"),
        ("现在怎么样了", "status"),
    ],
)
def test_followup_topic(text: str, topic: str) -> None:
    assert followup_topic(text) == topic


def test_followup_topic_from_button_wins() -> None:
    assert followup_topic("随便", "contact") == "contact"
    assert followup_topic("找谁办", "nonsense") == "contact"


def test_office_falls_back_to_the_city(status_service: StatusService) -> None:
    app = status_service.check("c", "HN-2024-00103", "0003", None).application
    assert app is not None
    office = status_service.office(app)
    assert isinstance(office, Office) and office.office and "海宁" in office.office


# -- logs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, secrets",
    [
        ("Received user message 'HN-2024-00103 尾号0003'", ["HN-2024-00103", "0003"]),
        ("SlotSet(key: phone_last4, value: 0003)", ["0003"]),
        ('{"phone_last4": "0003", "application_no": "ZJG-2024-00202"}', ["0003", "ZJG-2024-00202"]),
        ("phone=13800000003", ["13800000003"]),
    ],
)
def test_mask_text_hides_numbers_and_digits(line: str, secrets: List[str]) -> None:
    masked = mask_text(line)
    for secret in secrets:
        assert secret not in masked


def test_mask_text_keeps_ordinary_log_lines() -> None:
    line = "2026-11-23 10:00:01 sender 3f2a9c1e0b8d4e6fa1b2c3d4e5f60718 http://127.0.0.1:5005/x"
    assert mask_text(line) == line


def test_installed_factory_masks_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    install()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("rasa.core.processor").debug(
            "Received user message '%s'", "HN-2024-00103 尾号0003 13800000003"
        )
    text = caplog.text
    assert "HN-2024-00103" not in text and "0003 " not in text and "13800000003" not in text


def test_structured_debug_events_are_masked() -> None:
    from bot.log_privacy import _mask_event_dict

    event = {
        "event": "rule_policy.actions.find",
        "current_states": "[state 3] user text: 0003 | previous action name: action_listen",
        "parse_data_text": "hn-2024-00103 13800000003",
        "confidence": 0.0003,
        "level": "debug",
    }
    masked = _mask_event_dict(None, "debug", dict(event))
    assert "0003" not in masked["current_states"]
    assert "hn-2024-00103" not in masked["parse_data_text"]
    assert "13800000003" not in masked["parse_data_text"]
    assert masked["confidence"] == 0.0003 and masked["level"] == "debug"
