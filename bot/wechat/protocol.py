"""WeChat's message protocol: signatures, safe-mode encryption, parsing the pushed XML and
building the passive reply (published docs: 接收普通消息, 被动回复用户消息, 消息加解密)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Mapping, Optional
from xml.parsers.expat import ExpatError

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from bot.wechat.settings import WeChatSettings

# WeChat's messages are small; anything larger is not from WeChat.
MAX_BODY_BYTES = 64 * 1024
# A signed request older (or newer) than this is refused: a replayed capture.
MAX_CLOCK_SKEW = 300


class ProtocolError(Exception):
    """The request is not a valid WeChat push; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_request(
    settings: WeChatSettings, query: Mapping[str, str], now: Optional[float] = None
) -> None:
    """The ``signature`` of every request (handshake and messages) and its freshness."""
    signature = query.get("signature") or ""
    timestamp = query.get("timestamp") or ""
    nonce = query.get("nonce") or ""
    if not (signature and timestamp and nonce):
        raise ProtocolError(403, "缺少签名参数")
    if not hmac.compare_digest(sign(settings.token, timestamp, nonce), signature.lower()):
        raise ProtocolError(403, "签名错误")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise ProtocolError(403, "时间戳无效") from exc
    if abs((now if now is not None else time.time()) - sent) > MAX_CLOCK_SKEW:
        raise ProtocolError(403, "时间戳已过期")


@dataclass(frozen=True)
class Inbound:
    """One pushed message or event, as the channel needs it."""

    kind: str  # text | voice | image | event | other (WeChat's MsgType, simplified)
    openid: str  # FromUserName: the user
    account: str  # ToUserName: the official account
    create_time: int
    msg_id: int  # 0 for events
    msg_type: str  # WeChat's own MsgType
    content: str = ""  # text, or the voice's Recognition
    event: str = ""  # subscribe | unsubscribe | click | view | ...
    event_key: str = ""
    encrypted: bool = False

    @property
    def dedup_key(self) -> str:
        """What identifies one message across WeChat's retries."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.openid}:{self.create_time}:{self.event}"[:160]


def _crypto(settings: WeChatSettings) -> WeChatCrypto:
    return WeChatCrypto(settings.token, settings.aes_key, settings.appid)


def parse(settings: WeChatSettings, body: bytes, query: Mapping[str, str]) -> Inbound:
    """The pushed message of a POST whose ``signature`` was checked; decrypts safe mode."""
    if not body or not body.strip():
        raise ProtocolError(400, "消息为空")
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError(413, "消息过大")
    encrypted = (query.get("encrypt_type") or "raw").lower() == "aes"
    try:
        xml = body.decode("utf-8")
        if encrypted:
            if not settings.aes_key:
                raise ProtocolError(400, "未配置 EncodingAESKey，无法解密安全模式消息")
            xml = _crypto(settings).decrypt_message(
                xml,
                query.get("msg_signature") or "",
                query.get("timestamp") or "",
                query.get("nonce") or "",
            )
        message = parse_message(xml)
    except ProtocolError:
        raise
    except (InvalidSignatureException, InvalidAppIdException) as exc:
        raise ProtocolError(403, "消息签名或 AppID 不符") from exc
    except (ExpatError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(400, "消息格式错误") from exc
    except Exception as exc:  # wechatpy's decryption raises plain errors on garbage
        raise ProtocolError(400, "消息无法解析") from exc
    if message is None or not isinstance(getattr(message, "_data", None), dict):
        raise ProtocolError(400, "消息格式错误")
    data = message._data
    openid, account = str(data.get("FromUserName") or ""), str(data.get("ToUserName") or "")
    if not openid or not account:
        raise ProtocolError(400, "消息缺少 FromUserName 或 ToUserName")
    msg_type = str(data.get("MsgType") or "").lower()
    try:
        create_time = int(data.get("CreateTime") or 0)
        msg_id = int(data.get("MsgId") or 0)
    except ValueError as exc:
        raise ProtocolError(400, "CreateTime 或 MsgId 无效") from exc
    kind = msg_type if msg_type in ("text", "voice", "image", "event") else "other"
    content = data.get("Content") if kind == "text" else data.get("Recognition")
    return Inbound(
        kind=kind,
        openid=openid[:64],
        account=account[:64],
        create_time=create_time,
        msg_id=msg_id,
        msg_type=msg_type,
        content=str(content or "") if kind in ("text", "voice") else "",
        event=str(data.get("Event") or "").lower() if kind == "event" else "",
        event_key=str(data.get("EventKey") or "") if kind == "event" else "",
        encrypted=encrypted,
    )


def cdata(text: str) -> str:
    """A CDATA section holding ``text``, whatever it contains (``]]>`` splits the section)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(
    settings: WeChatSettings, inbound: Inbound, text: str, now: Optional[int] = None
) -> str:
    """The passive reply carrying ``text``; encrypted when the message was."""
    created = int(now if now is not None else time.time())
    xml = (
        "<xml>"
        f"<ToUserName>{cdata(inbound.openid)}</ToUserName>"
        f"<FromUserName>{cdata(inbound.account)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(text)}</Content>"
        "</xml>"
    )
    if not inbound.encrypted:
        return xml
    return _crypto(settings).encrypt_message(xml, secrets.token_hex(8), str(created))
