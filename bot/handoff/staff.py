"""Staff accounts: creation, password login with lockout, tokens, administration.

Tokens are random (32 bytes) and only their SHA-256 is stored. A login returns one token,
used as the API's bearer token and as the console's session cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Callable, List, Optional

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.db.models import beijing_now
from bot.db.session import session_scope
from bot.handoff.models import STAFF_ROLES, USERNAME_MAX, Staff, StaffAudit, StaffToken
from bot.handoff.passwords import DUMMY_HASH, check_strength, hash_password, verify_password

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
TOKEN_LIFETIME = dt.timedelta(hours=12)
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")


class StaffError(ValueError):
    """A request about accounts that cannot be done; the message is for the admin."""


class LoginLocked(Exception):
    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"locked until {until}")
        self.until = until


@dataclass(frozen=True)
class StaffView:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    locked_until: Optional[dt.datetime]
    last_login_at: Optional[dt.datetime]

    @classmethod
    def of(cls, staff: Staff) -> StaffView:
        return cls(
            staff.id,
            staff.username,
            staff.display_name,
            staff.role,
            staff.active,
            staff.locked_until,
            staff.last_login_at,
        )

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "active": self.active,
            "locked_until": self.locked_until.isoformat() + "+08:00" if self.locked_until else None,
            "last_login_at": self.last_login_at.isoformat() + "+08:00"
            if self.last_login_at
            else None,
        }


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class StaffDirectory:
    def __init__(
        self, database_url: Optional[str] = None, clock: Callable[[], dt.datetime] = beijing_now
    ) -> None:
        self._url = database_url
        self._clock = clock

    # -- accounts ------------------------------------------------------------------------

    def create(
        self,
        username: str,
        password: str,
        role: str,
        display_name: Optional[str] = None,
        actor: Optional[StaffView] = None,
    ) -> StaffView:
        username = (username or "").strip().lower()
        if not USERNAME_PATTERN.match(username):
            raise StaffError(
                "用户名须为 2–32 位小写字母、数字、点、下划线或连字符，且以字母或数字开头"
            )
        if role not in STAFF_ROLES:
            raise StaffError(f"角色须为 {' 或 '.join(STAFF_ROLES)}")
        check_password(password)
        display = (display_name or username).strip()[:64] or username
        now = self._clock()
        try:
            with session_scope(self._url) as session:
                staff = Staff(
                    username=username,
                    display_name=display,
                    password_hash=hash_password(password),
                    role=role,
                    active=True,
                    failed_logins=0,
                    created_at=now,
                )
                session.add(staff)
                session.flush()
                session.add(self._audit(actor, "staff_create", now, f"{username} ({role})"))
                return StaffView.of(staff)
        except IntegrityError as exc:
            raise StaffError(f"用户名 {username} 已存在") from exc

    def list(self) -> List[StaffView]:
        with session_scope(self._url) as session:
            rows = session.execute(select(Staff).order_by(Staff.username)).scalars().all()
            return [StaffView.of(s) for s in rows]

    def get(self, staff_id: int) -> Optional[Staff]:
        with session_scope(self._url) as session:
            return session.get(Staff, staff_id)

    def update(
        self,
        staff_id: int,
        actor: StaffView,
        *,
        active: Optional[bool] = None,
        role: Optional[str] = None,
        password: Optional[str] = None,
        display_name: Optional[str] = None,
    ) -> StaffView:
        now = self._clock()
        with session_scope(self._url) as session:
            staff = session.get(Staff, staff_id)
            if staff is None:
                raise StaffError("账号不存在")
            changes = []
            if staff.id == actor.id and (active is False or (role and role != staff.role)):
                raise StaffError("不能停用自己的账号或更改自己的角色")
            if role is not None:
                if role not in STAFF_ROLES:
                    raise StaffError(f"角色须为 {' 或 '.join(STAFF_ROLES)}")
                staff.role = role
                changes.append(f"role={role}")
            if active is not None:
                staff.active = bool(active)
                changes.append(f"active={staff.active}")
                if not staff.active:
                    session.execute(delete(StaffToken).where(StaffToken.staff_id == staff.id))
            if display_name is not None:
                display = display_name.strip()[:64]
                if not display:
                    raise StaffError("显示名不能为空")
                staff.display_name = display
                changes.append("display_name")
            if password is not None:
                check_password(password)
                staff.password_hash = hash_password(password)
                staff.failed_logins, staff.locked_until = 0, None
                # Every session of the account ends with its old password.
                session.execute(delete(StaffToken).where(StaffToken.staff_id == staff.id))
                changes.append("password")
            session.add(
                self._audit(actor, "staff_update", now, f"{staff.username}: {', '.join(changes)}")
            )
            return StaffView.of(staff)

    # -- login and tokens ----------------------------------------------------------------

    def login(self, username: str, password: str) -> Optional[tuple[str, StaffView]]:
        """A token and the account, or None for a wrong name or password (indistinguishable).
        Raises LoginLocked while the account is locked after repeated wrong passwords."""
        name = (username or "").strip().lower()[:USERNAME_MAX]
        now = self._clock()
        with session_scope(self._url) as session:
            staff = session.execute(
                select(Staff).where(Staff.username == name)
            ).scalar_one_or_none()
            if staff is None or not staff.active:
                verify_password(password or "", DUMMY_HASH)  # the same time as a real check
                session.add(self._audit(None, "login_failed", now, None, username=name))
                return None
            if staff.locked_until is not None and staff.locked_until > now:
                session.add(self._audit(None, "login_locked", now, None, username=name))
                raise LoginLocked(staff.locked_until)
            if not verify_password(password or "", staff.password_hash):
                staff.failed_logins += 1
                if staff.failed_logins >= MAX_FAILED_LOGINS:
                    staff.locked_until, staff.failed_logins = now + LOCKOUT, 0
                session.add(self._audit(None, "login_failed", now, None, username=name))
                return None
            staff.failed_logins, staff.locked_until, staff.last_login_at = 0, None, now
            token = secrets.token_urlsafe(32)
            session.add(
                StaffToken(
                    token_hash=token_hash(token),
                    staff_id=staff.id,
                    created_at=now,
                    expires_at=now + TOKEN_LIFETIME,
                )
            )
            session.add(
                StaffAudit(created_at=now, staff_id=staff.id, username=name, action="login")
            )
            return token, StaffView.of(staff)

    def authenticate(self, token: Optional[str]) -> Optional[Staff]:
        """The active account a valid, unexpired token belongs to."""
        if not token or len(token) > 256:
            return None
        now = self._clock()
        with session_scope(self._url) as session:
            row = session.execute(
                select(StaffToken, Staff)
                .join(Staff, StaffToken.staff_id == Staff.id)
                .where(StaffToken.token_hash == token_hash(token))
            ).one_or_none()
            if row is None:
                return None
            stored, staff = row
            if stored.expires_at <= now or not staff.active:
                return None
            return staff

    def logout(self, token: str) -> None:
        with session_scope(self._url) as session:
            session.execute(delete(StaffToken).where(StaffToken.token_hash == token_hash(token)))

    @staticmethod
    def _audit(
        actor: Optional[StaffView],
        action: str,
        now: dt.datetime,
        detail: Optional[str],
        username: Optional[str] = None,
    ) -> StaffAudit:
        return StaffAudit(
            created_at=now,
            staff_id=actor.id if actor else None,
            username=(actor.username if actor else username),
            action=action,
            detail=detail,
        )


def check_password(password: str) -> None:
    try:
        check_strength(password or "")
    except ValueError as exc:
        raise StaffError(str(exc)) from exc
