"""The WeChat channel's shared state in the application database (``bot.wechat.models``).

Synchronous: the channel calls it through ``asyncio.to_thread``."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.db.models import beijing_now
from bot.db.session import session_scope
from bot.wechat.models import WeChatAccessToken, WeChatFollowup, WeChatInbound

# WeChat retries within about 15 s; a message's record is kept well beyond that.
INBOUND_KEEP = dt.timedelta(minutes=10)


@dataclass
class Followup:
    options: List[Dict[str, str]] = field(default_factory=list)
    more: List[str] = field(default_factory=list)


class WeChatStore:
    def __init__(
        self, database_url: Optional[str] = None, clock: Callable[[], dt.datetime] = beijing_now
    ) -> None:
        self._url = database_url
        self._clock = clock

    @property
    def database_url(self) -> Optional[str]:
        return self._url

    # -- deduplication of WeChat's retries --------------------------------------------

    def claim(self, key: str) -> Optional[Tuple[str, Optional[str]]]:
        """None when this is the message's first delivery (now marked as processing);
        otherwise the first delivery's (state, passive reply)."""
        now = self._clock()
        try:
            with session_scope(self._url) as session:
                session.execute(
                    delete(WeChatInbound).where(WeChatInbound.received_at < now - INBOUND_KEEP)
                )
                session.add(WeChatInbound(key=key, received_at=now, state="processing"))
            return None
        except IntegrityError:
            return self.outcome(key) or ("processing", None)

    def outcome(self, key: str) -> Optional[Tuple[str, Optional[str]]]:
        with session_scope(self._url) as session:
            row = session.get(WeChatInbound, key)
            return (row.state, row.reply) if row is not None else None

    def finish(self, key: str, state: str, reply: Optional[str] = None) -> None:
        with session_scope(self._url) as session:
            row = session.get(WeChatInbound, key)
            if row is not None:
                row.state, row.reply = state, reply

    # -- numbered options and the rest of long answers ----------------------------------

    def followup(self, openid: str) -> Followup:
        with session_scope(self._url) as session:
            row = session.get(WeChatFollowup, openid)
            if row is None or row.expires_at < self._clock():
                return Followup()
            return Followup(options=json.loads(row.options), more=json.loads(row.more))

    def save_followup(self, openid: str, followup: Followup, minutes: int) -> None:
        """Replaces what the user's next reply can refer to (nothing: the row goes)."""
        now = self._clock()
        with session_scope(self._url) as session:
            row = session.get(WeChatFollowup, openid)
            if not followup.options and not followup.more:
                if row is not None:
                    session.delete(row)
                return
            if row is None:
                row = WeChatFollowup(openid=openid)
                session.add(row)
            row.options = json.dumps(followup.options, ensure_ascii=False)
            row.more = json.dumps(followup.more, ensure_ascii=False)
            row.expires_at = now + dt.timedelta(minutes=minutes)

    def take_more(self, openid: str, minutes: int) -> Optional[Tuple[str, bool]]:
        """The next waiting part of a long answer and whether more remain; None if none."""
        with session_scope(self._url) as session:
            row = session.execute(
                select(WeChatFollowup).where(WeChatFollowup.openid == openid).with_for_update()
            ).scalar_one_or_none()
            if row is None or row.expires_at < self._clock():
                return None
            more = json.loads(row.more)
            if not more:
                return None
            part, rest = more[0], more[1:]
            row.more = json.dumps(rest, ensure_ascii=False)
            row.expires_at = self._clock() + dt.timedelta(minutes=minutes)
            return part, bool(rest)

    # -- the access token shared by every process --------------------------------------

    def access_token(self, appid: str) -> Optional[Tuple[str, dt.datetime]]:
        with session_scope(self._url) as session:
            row = session.get(WeChatAccessToken, appid)
            return (row.access_token, row.expires_at) if row is not None else None

    def save_access_token(self, appid: str, token: str, expires_at: dt.datetime) -> None:
        with session_scope(self._url) as session:
            row = session.get(WeChatAccessToken, appid)
            if row is None:
                row = WeChatAccessToken(appid=appid)
                session.add(row)
            row.access_token, row.expires_at = token, expires_at

    def now(self) -> dt.datetime:
        return self._clock()
