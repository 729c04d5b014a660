"""Handoff tables (migration 0003) and staff password hashing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from bot.db import get_engine, session_scope
from bot.handoff.models import HandoffTicket, Staff, StaffAudit, StaffMessage, TicketNote
from bot.handoff.passwords import (
    DUMMY_HASH,
    WeakPasswordError,
    check_strength,
    hash_password,
    verify_password,
)

NOW = dt.datetime(2026, 11, 23, 10, 0)


def ticket(sender: str, status: str = "waiting") -> HandoffTicket:
    return HandoffTicket(
        sender_id=sender,
        channel="socketio",
        status=status,
        reason="user_request",
        summary="咨询人才公寓",
        context="{}",
        out_of_hours=False,
        created_at=NOW,
        updated_at=NOW,
    )


def test_migration_creates_the_handoff_tables(db_url: str) -> None:
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert {"staff", "staff_tokens", "handoff_tickets", "ticket_notes", "staff_messages"} <= tables
    assert "staff_audit" in tables


def test_one_open_ticket_per_conversation(db_url: str) -> None:
    with session_scope(db_url) as session:
        session.add(ticket("conv-1"))
    with pytest.raises(IntegrityError):
        with session_scope(db_url) as session:
            session.add(ticket("conv-1", "active"))
    # A closed ticket does not count: the same conversation may be handed over again.
    with session_scope(db_url) as session:
        old = session.query(HandoffTicket).one()
        old.status = "closed"
    with session_scope(db_url) as session:
        session.add(ticket("conv-1"))
        session.add(ticket("conv-2"))
    with session_scope(db_url) as session:
        assert session.query(HandoffTicket).count() == 3


def test_staff_notes_outbox_and_audit(db_url: str) -> None:
    with session_scope(db_url) as session:
        staff = Staff(
            username="zhang",
            display_name="张专员",
            password_hash=hash_password("a good long password"),
            role="specialist",
            active=True,
            failed_logins=0,
            created_at=NOW,
        )
        t = ticket("conv-9")
        session.add_all([staff, t])
        session.flush()
        session.add(
            TicketNote(ticket_id=t.id, staff_id=staff.id, text="已电话联系", created_at=NOW)
        )
        session.add(
            StaffMessage(
                ticket_id=t.id,
                staff_id=staff.id,
                kind="message",
                text="您好",
                created_at=NOW,
                attempts=0,
            )
        )
        session.add(StaffAudit(created_at=NOW, staff_id=staff.id, action="claim", ticket_id=t.id))
    with session_scope(db_url) as session:
        t = session.query(HandoffTicket).one()
        assert [n.text for n in t.notes] == ["已电话联系"]
        assert session.query(StaffMessage).one().delivered_at is None
        assert repr(session.query(Staff).one()) == "<Staff zhang specialist>"


def test_passwords_are_salted_and_verified() -> None:
    first, second = hash_password("a good long password"), hash_password("a good long password")
    assert first != second and first.startswith("scrypt$")
    assert "a good long password" not in first
    assert verify_password("a good long password", first)
    assert not verify_password("a good long passwor", first)
    assert not verify_password("anything", "not-a-hash")
    assert not verify_password("anything", DUMMY_HASH)


@pytest.mark.parametrize("password", ["short", "          ", " padded password ", "aaaaaaaaaaaa"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPasswordError):
        check_strength(password)


def test_reasonable_password_is_accepted() -> None:
    check_strength("人才服务2026-春")
