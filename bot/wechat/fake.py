"""A local fake of WeChat's servers for the official-account (公众号) channel.

WeChat cannot be reached from our machines, so integration tests and benchmarks talk to this
fake instead. It mirrors the published protocol of the official-account platform:

* the API side (api.weixin.qq.com), an aiohttp app in a background thread: access tokens as in
  获取 Access token and 获取稳定版接口调用凭据 (``/cgi-bin/token``, ``/cgi-bin/stable_token``),
  客服消息 (``/cgi-bin/message/custom/send``) and 自定义菜单创建 (``/cgi-bin/menu/create``),
  with WeChat's ``{"errcode", "errmsg"}`` answers (always HTTP 200), recording and scripting;
* the push side, WeChat calling the account's webhook: the URL handshake, messages as in
  接收普通消息 and 接收事件推送 (XML with CDATA), safe mode as in 消息加解密 (through
  wechatpy), the retries after a 5-second timeout, and reading the 被动回复用户消息 reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import secrets
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Deque, Dict, List, NamedTuple, Optional, Tuple, Union
from xml.etree import ElementTree

import requests
from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

# Answers as the real API words them; menu codes: top-level buttons, then sub buttons.
# fmt: off
ERRMSG: Dict[int, str] = {
    -1: "system error", 0: "ok", 40013: "invalid appid", 40125: "invalid appsecret",
    40002: "invalid grant_type", 41002: "appid missing", 41004: "appsecret missing",
    40001: "invalid credential, access_token is invalid or not latest",
    41001: "access_token missing", 42001: "access_token expired", 48001: "api unauthorized",
    44002: "empty post data", 47001: "data format error", 40003: "invalid openid",
    40007: "invalid media_id", 40008: "invalid message type", 44004: "empty content",
    45002: "content size out of limit", 45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    40016: "invalid button size", 40017: "invalid button type",
    40018: "invalid button name size", 40019: "invalid button key size",
    40020: "invalid button url size", 40055: "invalid button url domain",
    40023: "invalid sub button size", 40024: "invalid sub button type",
    40025: "invalid sub button name size", 40026: "invalid sub button key size",
    40027: "invalid sub button url size", 40054: "invalid sub button url domain",
}
# fmt: on

ENDPOINTS = ("token", "stable_token", "custom_send", "menu_create")
_MSG_TYPES = frozenset("text image voice video music news mpnews link msgmenu wxcard".split())
_KEY_TYPES = frozenset(
    "click scancode_push scancode_waitmsg pic_sysphoto pic_photo_or_album pic_weixin "
    "location_select".split()
)
_ID_TYPES = {"media_id": "media_id", "view_limited": "media_id", "article_id": "article_id"}
# Unique across runs too: a webhook may persist the MsgIds it has seen (retry deduplication).
_MSG_IDS = itertools.count(time.time_ns() // 1000 * 1000)

Fields = Dict[str, Any]
Handler = Callable[[Dict[str, str], Any, int], Dict[str, Any]]


class _Level(NamedTuple):
    """The error codes of one menu level and its name limit (bytes)."""

    size: int
    kind: int
    name: int
    key: int
    url: int
    domain: int
    name_limit: int


_TOP = _Level(40016, 40017, 40018, 40019, 40020, 40055, 16)
_SUB = _Level(40023, 40024, 40025, 40026, 40027, 40054, 60)


@dataclass
class Request:
    """One call received by the API side."""

    endpoint: str
    query: Dict[str, str]
    body: Any  # the parsed JSON object, None when absent or malformed
    time: float  # time.monotonic() at arrival
    errcode: int


@dataclass
class Delivery:
    """Outcome of pushing one message to a webhook, retries included."""

    status: Optional[int]  # None when every attempt failed or timed out
    body: str
    attempts: int
    elapsed: float
    reply: Optional[Fields]  # the passive reply (decrypted), None for "" or "success"

    @property
    def text(self) -> str:
        return str((self.reply or {}).get("Content", ""))


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 hex of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def to_xml(fields: Fields) -> str:
    """WeChat's message XML: numbers plain, strings in CDATA."""
    parts = []
    for name, value in fields.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = str(value)
        else:  # "]]>" cannot occur in a CDATA section: close it and reopen after "]]"
            text = "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def parse_xml(text: str) -> Fields:
    """The fields of a WeChat XML document; nested ``item`` lists (news) become lists."""

    def value(node: ElementTree.Element) -> Any:
        if len(node) == 0:
            return node.text or ""
        if all(child.tag == "item" for child in node):
            return [value(child) for child in node]
        return {child.tag: value(child) for child in node}

    return {child.tag: value(child) for child in ElementTree.fromstring(text)}


def _error(code: int) -> Dict[str, Any]:
    return {"errcode": code, "errmsg": ERRMSG.get(code, "scripted error")}


def _parse_body(raw: bytes) -> Tuple[Any, int]:
    if not raw.strip():
        return None, 44002
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None, 47001
    return (body, 0) if isinstance(body, dict) else (None, 47001)


def _size_ok(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value.encode("utf-8")) <= limit


def _button_error(button: Any, level: _Level) -> int:
    if not isinstance(button, dict):
        return level.kind
    if not _size_ok(button.get("name"), level.name_limit):
        return level.name
    subs, kind = button.get("sub_button"), button.get("type")
    if subs and level is _TOP:  # a container: no action of its own, 1 to 5 sub buttons
        if not isinstance(subs, list) or len(subs) > 5:
            return _SUB.size
        if kind:
            return level.kind
        return next((code for code in (_button_error(sub, _SUB) for sub in subs) if code), 0)
    if kind in _KEY_TYPES:
        return 0 if _size_ok(button.get("key"), 128) else level.key
    if kind in ("view", "miniprogram"):
        url = button.get("url")
        if not _size_ok(url, 1024):
            return level.url
        if not url.startswith(("http://", "https://")):
            return level.domain
        if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
            return level.kind
        return 0
    return 0 if kind in _ID_TYPES and button.get(_ID_TYPES[kind]) else level.kind


def _menu_error(menu: Dict[str, Any]) -> int:
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return _TOP.size
    return next((code for code in (_button_error(b, _TOP) for b in buttons) if code), 0)


def _message_error(message: Dict[str, Any]) -> int:
    if not message.get("touser") or not isinstance(message["touser"], str):
        return 40003
    kind = message.get("msgtype")
    if kind not in _MSG_TYPES:
        return 40008
    payload = message.get(kind)
    if not isinstance(payload, dict):
        return 47001
    if kind == "text":
        content = payload.get("content")
        if not isinstance(content, str) or not content:
            return 44004
        return 45002 if len(content.encode("utf-8")) > 2048 else 0
    if kind in ("image", "voice", "video") and not payload.get("media_id"):
        return 40007
    return 0


def _media_id() -> str:
    return secrets.token_urlsafe(48)


def _nonce() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)  # WeChat's nonces are 10 digits


class FakeWeChat:
    """Both sides of WeChat for one official account (see the module docstring)."""

    to_xml = staticmethod(to_xml)

    def __init__(
        self, appid: str, secret: str, token: str, aes_key: str = "", token_lifetime: int = 7200
    ) -> None:
        self.appid, self.secret, self.token, self.aes_key = appid, secret, token, aes_key
        self.token_lifetime = token_lifetime
        # Built now so that a malformed EncodingAESKey fails at once.
        self._crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None
        self.url = ""
        self.menu: Optional[Dict[str, Any]] = None
        self._cond = threading.Condition()
        self._requests: List[Request] = []
        self._scripts: Dict[str, Deque[int]] = {}
        self._delays: Dict[str, float] = {}
        self._tokens: Dict[str, float] = {}  # access token -> monotonic expiry
        self._stable: Optional[str] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serves the API from a daemon thread with its own event loop; returns once listening."""
        if self._loop is not None:
            raise RuntimeError("FakeWeChat already started")
        sock = socket.create_server((host, port))
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(loop,), daemon=True)
        self._thread.start()
        try:
            self._runner = asyncio.run_coroutine_threadsafe(self._listen(sock), loop).result(10)
        except BaseException:
            self.stop()
            raise
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = f"http://{shown}:{sock.getsockname()[1]}"

    def stop(self) -> None:
        loop, runner, self._loop, self._runner = self._loop, self._runner, None, None
        if loop is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        loop.run_forever()
        loop.close()

    def __enter__(self) -> FakeWeChat:
        if self._loop is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _listen(self, sock: socket.socket) -> web.AppRunner:
        app = web.Application()
        routes: Dict[str, Tuple[str, str, Handler]] = {
            "token": ("GET", "/cgi-bin/token", self._token),
            "stable_token": ("POST", "/cgi-bin/stable_token", self._stable_token),
            "custom_send": ("POST", "/cgi-bin/message/custom/send", self._custom_send),
            "menu_create": ("POST", "/cgi-bin/menu/create", self._menu_create),
        }
        for name, (method, path, handler) in routes.items():
            app.router.add_route(method, path, self._endpoint(name, handler))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner

    # -- API side ----------------------------------------------------------------------------

    def _endpoint(
        self, name: str, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            arrived = time.monotonic()
            query = dict(request.query)
            body, body_error = _parse_body(await request.read())
            if self._delays.get(name):
                await asyncio.sleep(self._delays[name])
            with self._cond:  # handlers run under the lock: tests script from other threads
                scripted = self._scripts[name].popleft() if self._scripts.get(name) else 0
                answer = _error(scripted) if scripted else handler(query, body, body_error)
                self._requests.append(Request(name, query, body, arrived, answer.get("errcode", 0)))
                self._cond.notify_all()
            return web.json_response(answer, dumps=lambda o: json.dumps(o, ensure_ascii=False))

        return serve

    def _credentials_error(self, params: Dict[str, Any]) -> int:
        appid, secret = params.get("appid"), params.get("secret")
        if params.get("grant_type") != "client_credential":
            return 40002
        if not appid or not secret:
            return 41002 if not appid else 41004
        return 40013 if appid != self.appid else 40125 if secret != self.secret else 0

    def _issue(self) -> str:
        token = secrets.token_urlsafe(96)
        self._tokens[token] = time.monotonic() + self.token_lifetime
        return token

    def _token_error(self, query: Dict[str, str]) -> int:
        token = query.get("access_token")
        if not token:
            return 41001
        expiry = self._tokens.get(token)
        if expiry is None:
            return 40001
        return 42001 if expiry <= time.monotonic() else 0

    def _token(self, query: Dict[str, str], body: Any, body_error: int) -> Dict[str, Any]:
        code = self._credentials_error(query)
        if code:
            return _error(code)
        return {"access_token": self._issue(), "expires_in": self.token_lifetime}

    def _stable_token(self, query: Dict[str, str], body: Any, body_error: int) -> Dict[str, Any]:
        code = body_error or self._credentials_error(body)
        if code:
            return _error(code)
        current = self._stable or ""
        if body.get("force_refresh") is True or self._token_error({"access_token": current}):
            self._tokens.pop(current, None)  # a forced refresh invalidates the old token
            current = self._stable = self._issue()
        remaining = math.ceil(self._tokens[current] - time.monotonic())
        return {"access_token": current, "expires_in": remaining}

    def _custom_send(self, query: Dict[str, str], body: Any, body_error: int) -> Dict[str, Any]:
        return _error(self._token_error(query) or body_error or _message_error(body))

    def _menu_create(self, query: Dict[str, str], body: Any, body_error: int) -> Dict[str, Any]:
        code = self._token_error(query) or body_error or _menu_error(body)
        if not code:
            self.menu = body
        return _error(code)

    # -- recording and scripting -------------------------------------------------------------

    @property
    def requests(self) -> List[Request]:
        with self._cond:
            return list(self._requests)

    def sent_messages(self, touser: Optional[str] = None) -> List[Dict[str, Any]]:
        """Bodies of the successful custom/send calls, to ``touser`` when given."""
        with self._cond:
            sent = [r.body for r in self._requests if r.endpoint == "custom_send" and not r.errcode]
        return [message for message in sent if touser in (None, message["touser"])]

    def wait_for_messages(
        self, touser: str, count: int, timeout: float = 10.0
    ) -> List[Dict[str, Any]]:
        """Blocks until ``count`` messages to ``touser`` were sent; TimeoutError otherwise."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self.sent_messages(touser)) >= count, timeout):
                return self.sent_messages(touser)
            received = self.sent_messages(touser)
        raise TimeoutError(f"expected {count} messages to {touser} in {timeout}s, got {received}")

    def script(self, endpoint: str, *errcodes: int) -> None:
        """The next calls of ``endpoint`` answer these error codes, in order (0: normally)."""
        self._check(endpoint)
        with self._cond:
            self._scripts.setdefault(endpoint, deque()).extend(errcodes)

    def delay(self, endpoint: str, seconds: float) -> None:
        """Makes every later call of ``endpoint`` take ``seconds`` longer."""
        self._check(endpoint)
        with self._cond:
            self._delays[endpoint] = seconds

    def expire_tokens(self) -> None:
        with self._cond:
            self._tokens = dict.fromkeys(self._tokens, -1.0)

    def revoke_tokens(self) -> None:
        with self._cond:
            self._tokens.clear()
            self._stable = None

    def reset(self) -> None:
        with self._cond:
            self._requests.clear()
            self._scripts.clear()
            self._delays.clear()
            self._tokens.clear()
            self._stable = self.menu = None

    @staticmethod
    def _check(endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}, expected one of {ENDPOINTS}")

    # -- push side: messages -----------------------------------------------------------------

    def message(
        self,
        openid: str,
        msg_type: str,
        msg_id: Optional[int] = None,
        to: str = "gh_fake",
        **fields: Any,
    ) -> Fields:
        """Any message as WeChat pushes it, e.g. ``message(openid, "location", Location_X=...)``."""
        message = {
            "ToUserName": to,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
            **fields,
        }
        if msg_type != "event":  # events carry no MsgId (WeChat dedupes them by sender+time)
            message["MsgId"] = msg_id or next(_MSG_IDS)
        return message

    def text(
        self, openid: str, content: str, msg_id: Optional[int] = None, to: str = "gh_fake"
    ) -> Fields:
        return self.message(openid, "text", msg_id, to, Content=content)

    def voice(
        self, openid: str, recognition: str, msg_id: Optional[int] = None, to: str = "gh_fake"
    ) -> Fields:
        """A voice message with WeChat's speech recognition result (Recognition) switched on."""
        return self.message(
            openid, "voice", msg_id, to, MediaId=_media_id(), Format="amr", Recognition=recognition
        )

    def image(
        self,
        openid: str,
        pic_url: str = "http://mmbiz.qpic.cn/fake/0",
        msg_id: Optional[int] = None,
        to: str = "gh_fake",
    ) -> Fields:
        return self.message(openid, "image", msg_id, to, PicUrl=pic_url, MediaId=_media_id())

    def event(
        self, openid: str, event: str, key: Optional[str] = None, to: str = "gh_fake"
    ) -> Fields:
        """subscribe, unsubscribe, CLICK (key = EventKey), VIEW (key = the URL), ..."""
        extra = {} if key is None else {"EventKey": key}
        return self.message(openid, "event", None, to, Event=event, **extra)

    # -- push side: transport ----------------------------------------------------------------

    def signature(self, timestamp: str, nonce: str) -> str:
        return sign(self.token, timestamp, nonce)

    def handshake(
        self,
        webhook_url: str,
        echostr: str = "",
        *,
        signature: Optional[str] = None,
        timestamp: Optional[Union[int, str]] = None,
        nonce: Optional[str] = None,
    ) -> Tuple[int, str]:
        """The URL verification GET of the account settings page; returns (status, body)."""
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or _nonce()
        params = {
            "signature": signature or self.signature(stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "echostr": echostr or str(secrets.randbelow(10**19)),
        }
        response = requests.get(webhook_url, params=params, timeout=5)
        return response.status_code, response.content.decode("utf-8", errors="replace")

    def deliver(
        self,
        webhook_url: str,
        fields: Union[Fields, str],
        *,
        encrypt: bool = False,
        attempts: int = 3,
        timeout: float = 5.0,
        timestamp: Optional[int] = None,
        signature: Optional[str] = None,
        msg_signature: Optional[str] = None,
    ) -> Delivery:
        """Pushes one message as WeChat does, resending it after each timeout or connection
        error, ``attempts`` times in all. A ``str`` is sent as the raw (plaintext) body."""
        stamp, nonce = str(timestamp if timestamp is not None else int(time.time())), _nonce()
        query = {
            "signature": signature or self.signature(stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
        }
        body = fields if isinstance(fields, str) else to_xml(fields)
        if not isinstance(fields, str):
            query["openid"] = str(fields.get("FromUserName", ""))
        if encrypt:
            to = "gh_fake" if isinstance(fields, str) else str(fields.get("ToUserName", ""))
            envelope = parse_xml(self._require_crypto().encrypt_message(body, nonce, stamp))
            body = to_xml({"ToUserName": to, "Encrypt": envelope["Encrypt"]})
            query.update(
                encrypt_type="aes", msg_signature=msg_signature or envelope["MsgSignature"]
            )
        started, status, text, made = time.monotonic(), None, "", 0
        while made < attempts and status is None:
            made += 1
            try:
                response = requests.post(
                    webhook_url,
                    params=query,
                    data=body.encode("utf-8"),
                    headers={"Content-Type": "text/xml"},
                    timeout=timeout,
                )
            except (requests.Timeout, requests.ConnectionError):
                continue
            # Decoded by hand: requests would assume ISO-8859-1 for text/xml without a charset.
            status, text = response.status_code, response.content.decode("utf-8", "replace")
        reply = self._read_reply(text, encrypt) if status == 200 else None
        return Delivery(status, text, made, time.monotonic() - started, reply)

    def deliver_all(
        self, webhook_url: str, fields: Union[Fields, str], copies: int = 3, **options: Any
    ) -> List[Delivery]:
        """The same message delivered ``copies`` times concurrently (as overlapping retries
        arrive), for deduplication tests; ``options`` are those of :meth:`deliver`."""
        with ThreadPoolExecutor(max_workers=copies) as pool:
            futures = [
                pool.submit(self.deliver, webhook_url, fields, **options) for _ in range(copies)
            ]
            return [future.result() for future in futures]

    def decrypt_reply(self, envelope: Fields) -> Fields:
        """Checks the MsgSignature of an encrypted passive reply and decrypts it."""
        encrypted, stamp, nonce = (
            str(envelope.get(k, "")) for k in ("Encrypt", "TimeStamp", "Nonce")
        )
        expected = sign(self.token, stamp, nonce, encrypted)
        if envelope.get("MsgSignature") != expected:
            raise AssertionError(f"bad MsgSignature in the reply: {envelope.get('MsgSignature')}")
        try:
            plain = self._require_crypto().decrypt_message(envelope, expected, stamp, nonce)
        except InvalidAppIdException as exc:
            raise AssertionError("the reply was encrypted for another appid") from exc
        return parse_xml(plain)

    def _read_reply(self, text: str, encrypted: bool) -> Optional[Fields]:
        if text.strip() in ("", "success"):
            return None
        try:
            fields = parse_xml(text)
        except ElementTree.ParseError as exc:
            raise AssertionError(f"the passive reply is not XML: {text[:200]!r}") from exc
        if "Encrypt" in fields:
            return self.decrypt_reply(fields)
        if encrypted:
            raise AssertionError("plaintext passive reply to a message sent in safe mode")
        return fields

    def _require_crypto(self) -> WeChatCrypto:
        if self._crypto is None:
            raise ValueError("safe mode needs the EncodingAESKey (aes_key)")
        return self._crypto
