"""Handoff tickets: opening, the queue, claim, messages, notes, close, cancel, rating."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.handoff.hours import ServiceHours
from bot.handoff.models import Staff, StaffAudit
from bot.handoff.passwords import hash_password
from bot.handoff.tickets import HandoffService, TicketConflict, TicketNotFound

MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0)


class Clock:
    def __init__(self, now: dt.datetime = MONDAY_10) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)  # every call is a later moment
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db_url: str, clock: Clock) -> HandoffService:
    return HandoffService(db_url, clock, ServiceHours.parse("mon-fri 08:30-17:30"))


def make_staff(db_url: str, username: str, role: str = "specialist") -> Staff:
    with session_scope(db_url) as session:
        staff = Staff(
            username=username,
            display_name=username.upper(),
            password_hash=hash_password("irrelevant password"),
            role=role,
            active=True,
            failed_logins=0,
            created_at=MONDAY_10,
        )
        session.add(staff)
    return staff


def test_open_gives_place_in_queue_and_is_idempotent(service: HandoffService) -> None:
    first = service.open_ticket("a", "socketio", "user_request", "想咨询人才公寓")
    second = service.open_ticket("b", "wechat", "fallback", "听不懂")
    again = service.open_ticket("a", "socketio", "user_request", "再次请求")
    assert (first.created, first.position, first.status) == (True, 1, "waiting")
    assert second.position == 2 and not second.out_of_hours
    assert (again.created, again.ticket_id, again.position) == (False, first.ticket_id, 1)


def test_out_of_hours_says_when_service_opens(db_url: str) -> None:
    friday_evening = Clock(dt.datetime(2026, 11, 27, 19, 0))
    service = HandoffService(db_url, friday_evening, ServiceHours.parse("mon-fri 08:30-17:30"))
    opened = service.open_ticket("night", "socketio", "user_request", "晚上咨询")
    assert opened.out_of_hours and opened.next_opening == dt.datetime(2026, 11, 30, 8, 30)
    assert service.list("waiting")[0]["out_of_hours"] is True


def test_summary_is_masked_and_bounded(service: HandoffService) -> None:
    service.open_ticket("m", "rest", "lookup_locked", "HN-2024-00103 尾号0003 " + "长" * 500)
    (ticket,) = service.list("waiting")
    assert "HN-2024-00103" not in ticket["summary"] and "0003" not in ticket["summary"]
    assert len(ticket["summary"]) <= 200


def test_claim_message_note_close_and_audit(service: HandoffService, db_url: str) -> None:
    zhang, li = make_staff(db_url, "zhang"), make_staff(db_url, "li")
    opened = service.open_ticket("c", "socketio", "user_request", "人才贷")
    claimed = service.claim(opened.ticket_id, zhang)
    assert claimed["status"] == "active" and claimed["assignee"] == "zhang"
    assert service.claim(opened.ticket_id, zhang)["status"] == "active"  # idempotent
    with pytest.raises(TicketConflict, match="ZHANG"):
        service.claim(opened.ticket_id, li)
    with pytest.raises(TicketConflict):
        service.queue_message(opened.ticket_id, li, "我来回答")
    message_id = service.queue_message(opened.ticket_id, zhang, "您好，我是张专员")
    (pending,) = service.pending_messages()
    assert pending["id"] == message_id and pending["sender_id"] == "c"
    service.mark_failed(message_id, "Rasa 503")
    assert service.pending_messages()[0]["attempts"] == 1
    service.mark_delivered(message_id)
    assert service.pending_messages() == []
    note = service.add_note(opened.ticket_id, zhang, "已电话回访")
    assert note["author"] == "zhang"
    closed = service.close(opened.ticket_id, zhang)
    assert closed["status"] == "closed" and closed["closed_by"] == "staff"
    with pytest.raises(TicketConflict):
        service.queue_message(opened.ticket_id, zhang, "还在吗")
    detail = service.get(opened.ticket_id)
    assert [n["text"] for n in detail["notes"]] == ["已电话回访"]
    with session_scope(db_url) as session:
        actions = [a.action for a in session.execute(select(StaffAudit)).scalars()]
    assert actions == ["claim", "message", "note", "close"]


def test_admin_may_answer_and_close_any_active_ticket(service: HandoffService, db_url: str) -> None:
    zhang, boss = make_staff(db_url, "zhang"), make_staff(db_url, "boss", "admin")
    opened = service.open_ticket("d", "socketio", "complaint", "投诉")
    service.claim(opened.ticket_id, zhang)
    service.queue_message(opened.ticket_id, boss, "我是科长")
    assert service.close(opened.ticket_id, boss)["status"] == "closed"


def test_bad_messages_and_unknown_tickets(service: HandoffService, db_url: str) -> None:
    zhang = make_staff(db_url, "zhang")
    opened = service.open_ticket("e", "socketio", "user_request", "x")
    service.claim(opened.ticket_id, zhang)
    for text in ("", "   ", "字" * 2001):
        with pytest.raises(ValueError):
            service.queue_message(opened.ticket_id, zhang, text)
    with pytest.raises(TicketNotFound):
        service.claim(99999, zhang)
    with pytest.raises(ValueError):
        service.list("archived")


def test_user_cancel_then_a_new_handoff_is_possible(service: HandoffService) -> None:
    opened = service.open_ticket("f", "wechat", "user_request", "x")
    assert service.cancel_by_user("f") == opened.ticket_id
    assert service.open_ticket_for("f") is None
    assert service.cancel_by_user("f") is None
    assert service.open_ticket("f", "wechat", "user_request", "y").created


def test_rating_goes_to_the_ticket_a_specialist_closed(
    service: HandoffService, db_url: str, clock: Clock
) -> None:
    zhang = make_staff(db_url, "zhang")
    assert not service.rate("g", 5)  # nothing closed yet
    opened = service.open_ticket("g", "socketio", "user_request", "x")
    service.claim(opened.ticket_id, zhang)
    service.close(opened.ticket_id, zhang)
    assert not service.rate("g", 6) and not service.rate("g", 0)
    assert service.rate("g", 4)
    assert service.get(opened.ticket_id)["rating"] == 4
    clock.now += dt.timedelta(hours=25)
    assert not service.rate("g", 5)


def test_search_closed_tickets(service: HandoffService, db_url: str) -> None:
    zhang = make_staff(db_url, "zhang")
    for sender, summary in (("s1", "人才公寓租金"), ("s2", "人才贷利率"), ("s3", "100%_特殊")):
        t = service.open_ticket(sender, "socketio", "user_request", summary)
        service.claim(t.ticket_id, zhang)
        service.close(t.ticket_id, zhang)
    assert [t["sender_id"] for t in service.list("closed", "人才贷")] == ["s2"]
    assert [t["sender_id"] for t in service.list("closed", "%_")] == ["s3"]
    assert len(service.list("closed")) == 3
