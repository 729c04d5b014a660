"""Tables of the WeChat channel: shared by every Rasa replica through ``DATABASE_URL``, so
that a retry reaching another process, or a restarted one, is still recognised."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Text

from bot.db.models import Base


class WeChatInbound(Base):
    """One message received from WeChat, kept for minutes: WeChat delivers a message up to
    three times, and only the first delivery may reach Rasa."""

    __tablename__ = "wechat_inbound"

    # msg:<MsgId>, or evt:<openid>:<CreateTime>:<Event> for events (which have no MsgId).
    key = Column(String(160), primary_key=True)
    received_at = Column(DateTime(timezone=False), nullable=False, index=True)
    # processing → replied (passive reply below) | async (answered through the API).
    state = Column(String(12), nullable=False)
    # The passive reply's text, so that a retry gets the same answer; purged with the row.
    reply = Column(Text, nullable=True)


class WeChatFollowup(Base):
    """What a user's next short reply means: "1", "2"… pick the options of the last answer;
    any reply fetches the rest of a long answer when it could not be pushed."""

    __tablename__ = "wechat_followups"

    openid = Column(String(64), primary_key=True)
    # JSON lists: [{"title", "payload"}] and [text, ...].
    options = Column(Text, nullable=False, default="[]")
    more = Column(Text, nullable=False, default="[]")
    expires_at = Column(DateTime(timezone=False), nullable=False, index=True)


class WeChatAccessToken(Base):
    """The API access token, fetched by one process and used by all (WeChat limits fetches)."""

    __tablename__ = "wechat_access_tokens"

    appid = Column(String(64), primary_key=True)
    access_token = Column(String(1024), nullable=False)
    expires_at = Column(DateTime(timezone=False), nullable=False)
