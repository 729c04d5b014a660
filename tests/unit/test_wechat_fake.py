"""Tests of the fake WeChat servers (bot/wechat/fake.py), on their own.

Signatures and XML are checked independently (hashlib, ElementTree, wechatpy) rather than with
the fake's own helpers, so that a mistake in the fake cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

import pytest
import requests
from wechatpy.crypto import WeChatCrypto

from bot.wechat.fake import Delivery, FakeWeChat, parse_xml

APPID = "wx1234567890abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "talent_token"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters
OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"

Responder = Callable[[str, Dict[str, str], str], Tuple[int, str]]


def sha1_of_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def xml_fields(text: str) -> Dict[str, str]:
    return {child.tag: child.text or "" for child in ElementTree.fromstring(text)}


# -- a tiny webhook standing for the official account's server ----------------------------------


class Webhook:
    """Records every request and answers with ``respond(method, query, body)``."""

    def __init__(self) -> None:
        self.received: List[Tuple[str, Dict[str, str], str]] = []
        self.respond: Responder = lambda method, query, body: (200, "success")
        self.release = threading.Event()  # ends the waits of slow responders at teardown
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.webhook = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_port}/wechat"
        # A short poll interval keeps shutdown() (each test's teardown) fast.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def _serve(self, raw: bytes) -> None:
        hook: Webhook = self.server.webhook  # type: ignore[attr-defined]
        query = dict(parse_qsl(urlsplit(self.path).query))
        body = raw.decode("utf-8")
        hook.received.append((self.command, query, body))
        try:
            status, text = hook.respond(self.command, query, body)
        except Exception as exc:  # reported to the test through the status
            status, text = 500, repr(exc)
        data = text.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the fake gave up waiting (retry tests)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def text_reply(fields: Dict[str, str], content: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{fields['FromUserName']}]]></ToUserName>"
        f"<FromUserName><![CDATA[{fields['ToUserName']}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content></xml>"
    )


def echo(method: str, query: Dict[str, str], body: str) -> Tuple[int, str]:
    fields = xml_fields(body)
    return 200, text_reply(fields, "收到：" + fields["Content"])


# -- fixtures and API helpers -------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    with FakeWeChat(APPID, SECRET, TOKEN, AES_KEY) as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def api_get(fake: FakeWeChat, path: str, **params: str) -> Dict[str, Any]:
    response = requests.get(fake.url + path, params=params, timeout=5)
    assert response.status_code == 200
    return response.json()


def api_post(
    fake: FakeWeChat, path: str, body: Any = None, raw: Optional[bytes] = None, **params: str
) -> Dict[str, Any]:
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    response = requests.post(fake.url + path, params=params, data=data, timeout=5)
    assert response.status_code == 200  # WeChat reports errors in the JSON, never by status
    return response.json()


def get_token(fake: FakeWeChat) -> str:
    answer = api_get(
        fake, "/cgi-bin/token", grant_type="client_credential", appid=APPID, secret=SECRET
    )
    return answer["access_token"]


def stable_token(fake: FakeWeChat, force_refresh: bool = False) -> Dict[str, Any]:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    return api_post(fake, "/cgi-bin/stable_token", {**body, "force_refresh": force_refresh})


def send_text(fake: FakeWeChat, token: str, content: str, touser: str = OPENID) -> Dict[str, Any]:
    message = {"touser": touser, "msgtype": "text", "text": {"content": content}}
    return api_post(fake, "/cgi-bin/message/custom/send", message, access_token=token)


def create_menu(fake: FakeWeChat, buttons: Any) -> int:
    answer = api_post(
        fake, "/cgi-bin/menu/create", {"button": buttons}, access_token=get_token(fake)
    )
    return answer["errcode"]


# -- access tokens ------------------------------------------------------------------------------


def test_token_issues_a_new_valid_token_each_call(fake: FakeWeChat) -> None:
    first = api_get(
        fake, "/cgi-bin/token", grant_type="client_credential", appid=APPID, secret=SECRET
    )
    second = get_token(fake)
    assert first["expires_in"] == 7200 and len(first["access_token"]) >= 64
    assert first["access_token"] != second
    assert send_text(fake, first["access_token"], "a")["errcode"] == 0
    assert send_text(fake, second, "b")["errcode"] == 0


@pytest.mark.parametrize(
    ("params", "errcode", "errmsg"),
    [
        ({"appid": "wx_other"}, 40013, "invalid appid"),
        ({"secret": "wrong"}, 40125, "invalid appsecret"),
        ({"grant_type": "password"}, 40002, "invalid grant_type"),
        ({"appid": ""}, 41002, "appid missing"),
    ],
)
def test_token_errors(fake: FakeWeChat, params: Dict[str, str], errcode: int, errmsg: str) -> None:
    query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **params}
    assert api_get(fake, "/cgi-bin/token", **query) == {"errcode": errcode, "errmsg": errmsg}
    assert fake.requests[-1].errcode == errcode


def test_stable_token_is_reused_until_forced(fake: FakeWeChat) -> None:
    first, again = stable_token(fake), stable_token(fake)
    assert again["access_token"] == first["access_token"]
    assert first["expires_in"] == 7200 and 7190 <= again["expires_in"] <= 7200
    forced = stable_token(fake, force_refresh=True)
    assert forced["access_token"] != first["access_token"] and forced["expires_in"] == 7200
    assert send_text(fake, first["access_token"], "old")["errcode"] == 40001
    assert send_text(fake, forced["access_token"], "new")["errcode"] == 0
    assert stable_token(fake)["access_token"] == forced["access_token"]


def test_stable_token_replaces_an_expired_token(fake: FakeWeChat) -> None:
    old = stable_token(fake)["access_token"]
    fake.expire_tokens()
    assert send_text(fake, old, "x")["errcode"] == 42001
    new = stable_token(fake)
    assert new["access_token"] != old and new["expires_in"] == 7200


@pytest.mark.parametrize(
    ("raw", "errcode"),
    [
        (b"{not json", 47001),
        (b"[1, 2]", 47001),
        (b"", 44002),
        (json.dumps({"grant_type": "client_credential", "appid": APPID, "secret": "x"}), 40125),
    ],
)
def test_stable_token_errors(fake: FakeWeChat, raw: Any, errcode: int) -> None:
    raw = raw.encode() if isinstance(raw, str) else raw
    assert api_post(fake, "/cgi-bin/stable_token", raw=raw)["errcode"] == errcode


def test_access_token_checks(fake: FakeWeChat) -> None:
    token = get_token(fake)
    message = {"touser": OPENID, "msgtype": "text", "text": {"content": "hi"}}
    assert api_post(fake, "/cgi-bin/message/custom/send", message) == {
        "errcode": 41001,
        "errmsg": "access_token missing",
    }
    assert send_text(fake, "forged", "hi")["errcode"] == 40001
    fake.expire_tokens()
    assert send_text(fake, token, "hi") == {"errcode": 42001, "errmsg": "access_token expired"}
    fake.revoke_tokens()
    assert send_text(fake, token, "hi")["errcode"] == 40001
    assert send_text(fake, get_token(fake), "hi")["errcode"] == 0
    assert len(fake.sent_messages()) == 1


def test_tokens_expire_after_their_lifetime() -> None:
    with FakeWeChat(APPID, SECRET, TOKEN, token_lifetime=0) as fake:
        assert send_text(fake, get_token(fake), "hi")["errcode"] == 42001


# -- customer-service messages ------------------------------------------------------------------


def test_custom_send_records_successful_messages(fake: FakeWeChat) -> None:
    token = get_token(fake)
    started = time.monotonic()
    assert send_text(fake, token, "您好") == {"errcode": 0, "errmsg": "ok"}
    assert send_text(fake, token, "other user", touser="o_other")["errcode"] == 0
    image = {"touser": OPENID, "msgtype": "image", "image": {"media_id": "MEDIA"}}
    news = {"touser": OPENID, "msgtype": "news", "news": {"articles": [{"title": "t"}]}}
    for message in (image, news):
        assert api_post(fake, "/cgi-bin/message/custom/send", message, access_token=token) == {
            "errcode": 0,
            "errmsg": "ok",
        }
    assert send_text(fake, token, "")["errcode"] == 44004
    mine = fake.sent_messages(OPENID)
    assert [m["msgtype"] for m in mine] == ["text", "image", "news"]
    assert mine[0]["text"]["content"] == "您好"
    assert len(fake.sent_messages()) == 4
    record = fake.requests[1]
    assert (record.endpoint, record.query, record.errcode) == (
        "custom_send",
        {"access_token": token},
        0,
    )
    assert record.body["text"]["content"] == "您好" and started <= record.time <= time.monotonic()
    assert fake.requests[-1].errcode == 44004


def test_custom_send_content_limit_is_2048_utf8_bytes(fake: FakeWeChat) -> None:
    token = get_token(fake)
    fits = "政" * 682 + "ab"  # 2046 + 2 bytes
    assert len(fits.encode()) == 2048 and send_text(fake, token, fits)["errcode"] == 0
    assert send_text(fake, token, fits + "c") == {
        "errcode": 45002,
        "errmsg": "content size out of limit",
    }
    assert fake.sent_messages() == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": fits}}
    ]


@pytest.mark.parametrize(
    ("raw", "errcode"),
    [
        (b"not json", 47001),
        (b"", 44002),
        (b'{"msgtype": "text", "text": {"content": "hi"}}', 40003),
        (b'{"touser": "", "msgtype": "text", "text": {"content": "hi"}}', 40003),
        (b'{"touser": "o1", "msgtype": "fax", "fax": {}}', 40008),
        (b'{"touser": "o1", "msgtype": "text", "text": "hi"}', 47001),
        (b'{"touser": "o1", "msgtype": "image", "image": {}}', 40007),
    ],
)
def test_custom_send_rejects_bad_bodies(fake: FakeWeChat, raw: bytes, errcode: int) -> None:
    answer = api_post(fake, "/cgi-bin/message/custom/send", raw=raw, access_token=get_token(fake))
    assert answer["errcode"] == errcode
    assert fake.sent_messages() == []


def test_scripted_codes_are_answered_in_order(fake: FakeWeChat) -> None:
    token = get_token(fake)
    fake.script("custom_send", -1, 45015)
    fake.script("custom_send", 45047)
    assert send_text(fake, token, "1") == {"errcode": -1, "errmsg": "system error"}
    assert send_text(fake, token, "2") == {
        "errcode": 45015,
        "errmsg": "response out of time limit or subscription is canceled",
    }
    assert send_text(fake, token, "3") == {
        "errcode": 45047,
        "errmsg": "out of response count limit",
    }
    assert send_text(fake, token, "4")["errcode"] == 0
    assert [m["text"]["content"] for m in fake.sent_messages()] == ["4"]
    assert [r.errcode for r in fake.requests if r.endpoint == "custom_send"] == [
        -1,
        45015,
        45047,
        0,
    ]


def test_scripts_apply_per_endpoint(fake: FakeWeChat) -> None:
    fake.script("token", 48001)
    fake.script("custom_send", 42001)
    assert api_get(fake, "/cgi-bin/token") == {"errcode": 48001, "errmsg": "api unauthorized"}
    token = get_token(fake)
    assert send_text(fake, token, "x") == {"errcode": 42001, "errmsg": "access_token expired"}
    assert send_text(fake, token, "x")["errcode"] == 0  # the token itself stayed valid
    with pytest.raises(ValueError, match="unknown endpoint"):
        fake.script("custom-send", 40001)


def test_wait_for_messages(fake: FakeWeChat) -> None:
    token = get_token(fake)

    def send_later() -> None:
        time.sleep(0.2)
        send_text(fake, token, "one")
        send_text(fake, token, "elsewhere", touser="o_other")
        send_text(fake, token, "two")

    sender = threading.Thread(target=send_later)
    sender.start()
    messages = fake.wait_for_messages(OPENID, 2, timeout=5)
    sender.join()
    assert [m["text"]["content"] for m in messages] == ["one", "two"]
    with pytest.raises(TimeoutError, match="one") as caught:
        fake.wait_for_messages(OPENID, 3, timeout=0.2)
    assert "expected 3 messages" in str(caught.value)


def test_delay_slows_an_endpoint(fake: FakeWeChat) -> None:
    fake.delay("token", 0.5)
    started = time.monotonic()
    get_token(fake)
    assert time.monotonic() - started >= 0.5
    assert fake.requests[0].time - started < 0.4  # the arrival time, before the delay


def test_reset_forgets_everything(fake: FakeWeChat) -> None:
    token = get_token(fake)
    assert create_menu(fake, [{"type": "click", "name": "政策", "key": "POLICY"}]) == 0
    fake.script("custom_send", -1)
    fake.reset()
    assert fake.requests == [] and fake.menu is None
    assert send_text(fake, token, "x")["errcode"] == 40001
    assert send_text(fake, get_token(fake), "x")["errcode"] == 0  # the script is gone too


def test_unknown_paths_are_404(fake: FakeWeChat) -> None:
    assert requests.get(fake.url + "/cgi-bin/user/info", timeout=5).status_code == 404


def test_stop_closes_the_port() -> None:
    with FakeWeChat(APPID, SECRET, TOKEN) as fake:
        assert fake.url.startswith("http://127.0.0.1:")
        get_token(fake)
    with pytest.raises(requests.ConnectionError):
        requests.get(fake.url + "/cgi-bin/token", timeout=2)


# -- menu ---------------------------------------------------------------------------------------

MENU = [
    {"type": "click", "name": "政策查询", "key": "POLICY"},
    {
        "name": "办事",
        "sub_button": [
            {"type": "view", "name": "进度查询", "url": "https://example.gov.cn/status"},
            {"type": "click", "name": "人工服务", "key": "HUMAN"},
        ],
    },
]


def test_menu_create_stores_a_valid_menu(fake: FakeWeChat) -> None:
    assert create_menu(fake, MENU) == 0
    assert fake.menu == {"button": MENU}
    assert api_post(fake, "/cgi-bin/menu/create", {"button": MENU})["errcode"] == 41001


def click(name: str = "政策", key: str = "K") -> Dict[str, str]:
    return {"type": "click", "name": name, "key": key}


@pytest.mark.parametrize(
    ("buttons", "errcode"),
    [
        ([], 40016),
        ([click()] * 4, 40016),
        ("buttons", 40016),
        ([{"name": "办事", "sub_button": [click()] * 6}], 40023),
        ([click(name="六个汉字名字")], 40018),  # 18 bytes > 16
        ([click(name="")], 40018),
        ([click(key="")], 40019),
        ([click(key="k" * 129)], 40019),
        ([{"type": "view", "name": "官网"}], 40020),
        ([{"type": "view", "name": "官网", "url": "ftp://example.gov.cn"}], 40055),
        ([{"type": "teleport", "name": "官网"}], 40017),
        ([{"name": "官网"}], 40017),
        ([{"type": "click", "name": "办事", "key": "K", "sub_button": [click()]}], 40017),
        ([{"name": "办事", "sub_button": [click(name="名" * 21)]}], 40025),  # 63 bytes > 60
        ([{"name": "办事", "sub_button": [click(key="")]}], 40026),
        ([{"name": "办事", "sub_button": [{"type": "bogus", "name": "x"}]}], 40024),
        ([{"name": "办事", "sub_button": [{"type": "view", "name": "x", "url": "x"}]}], 40054),
    ],
)
def test_menu_create_validates_like_wechat(fake: FakeWeChat, buttons: Any, errcode: int) -> None:
    assert create_menu(fake, buttons) == errcode
    assert fake.menu is None


def test_menu_limits_are_inclusive(fake: FakeWeChat) -> None:
    sub = [click(name="名" * 20, key="k" * 128)] * 5  # 60-byte names, 128-byte keys
    buttons = [{"name": "五个汉字", "sub_button": sub}, click(), click()]
    assert create_menu(fake, buttons) == 0


# -- push side: messages ------------------------------------------------------------------------


def test_message_builders(fake: FakeWeChat) -> None:
    now = int(time.time())
    text = fake.text(OPENID, "人才补贴怎么申请")
    assert list(text) == ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId"]
    assert (text["ToUserName"], text["FromUserName"], text["MsgType"]) == (
        "gh_fake",
        OPENID,
        "text",
    )
    assert abs(text["CreateTime"] - now) <= 1
    following = fake.text(OPENID, "again", to="gh_other")
    assert 0 < text["MsgId"] < following["MsgId"] < 2**63 and following["ToUserName"] == "gh_other"
    assert fake.text(OPENID, "x", msg_id=42)["MsgId"] == 42
    voice = fake.voice(OPENID, "社保怎么交")
    assert voice["MsgType"] == "voice" and voice["Format"] == "amr" and voice["MediaId"]
    assert voice["Recognition"] == "社保怎么交" and isinstance(voice["MsgId"], int)
    image = fake.image(OPENID, pic_url="http://mmbiz.qpic.cn/x.jpg")
    assert image["PicUrl"] == "http://mmbiz.qpic.cn/x.jpg" and image["MediaId"]
    click_event = fake.event(OPENID, "CLICK", key="POLICY")
    assert (click_event["MsgType"], click_event["Event"], click_event["EventKey"]) == (
        "event",
        "CLICK",
        "POLICY",
    )
    subscribe = fake.event(OPENID, "subscribe")
    assert "EventKey" not in subscribe and "MsgId" not in subscribe
    location = fake.message(OPENID, "location", Location_X=23.13, Location_Y=113.26, Scale=15)
    assert location["Location_X"] == 23.13 and "MsgId" in location


def test_to_xml_uses_cdata_and_plain_numbers() -> None:
    fields = {"Content": "a]]>b <&>", "CreateTime": 1700000000, "Location_X": 23.5}
    xml = FakeWeChat.to_xml(fields)
    assert xml == (
        "<xml><Content><![CDATA[a]]]]><![CDATA[>b <&>]]></Content>"
        "<CreateTime>1700000000</CreateTime><Location_X>23.5</Location_X></xml>"
    )
    assert xml_fields(xml) == {
        "Content": "a]]>b <&>",
        "CreateTime": "1700000000",
        "Location_X": "23.5",
    }


def test_parse_xml_reads_nested_news_replies() -> None:
    xml = (
        "<xml><MsgType><![CDATA[news]]></MsgType><ArticleCount>2</ArticleCount><Articles>"
        "<item><Title><![CDATA[A]]></Title></item><item><Title><![CDATA[B]]></Title></item>"
        "</Articles><Empty></Empty></xml>"
    )
    assert parse_xml(xml) == {
        "MsgType": "news",
        "ArticleCount": "2",
        "Articles": [{"Title": "A"}, {"Title": "B"}],
        "Empty": "",
    }


# -- push side: handshake and delivery ----------------------------------------------------------


def verify_handshake(method: str, query: Dict[str, str], body: str) -> Tuple[int, str]:
    expected = sha1_of_sorted(TOKEN, query["timestamp"], query["nonce"])
    return (200, query["echostr"]) if query["signature"] == expected else (403, "forbidden")


def test_handshake_signature(fake: FakeWeChat, webhook: Webhook) -> None:
    webhook.respond = verify_handshake
    assert fake.handshake(webhook.url, "5838479218127813673") == (200, "5838479218127813673")
    method, query, _ = webhook.received[0]
    assert method == "GET" and query["nonce"].isdigit() and query["timestamp"].isdigit()
    fixed = fake.handshake(webhook.url, "e", timestamp=1409304348, nonce="1234567890")
    assert fixed == (200, "e")
    expected = hashlib.sha1("".join(sorted([TOKEN, "1409304348", "1234567890"])).encode())
    assert webhook.received[1][1]["signature"] == expected.hexdigest()
    assert fake.handshake(webhook.url, "e", signature="0" * 40) == (403, "forbidden")
    assert webhook.received[2][1]["signature"] == "0" * 40
    status, echostr = fake.handshake(webhook.url)
    assert status == 200 and echostr.isdigit()


def test_deliver_plaintext(fake: FakeWeChat, webhook: Webhook) -> None:
    webhook.respond = echo
    message = fake.text(OPENID, "人才公寓")
    delivery = fake.deliver(webhook.url, message)
    assert isinstance(delivery, Delivery)
    assert (delivery.status, delivery.attempts) == (200, 1)
    assert delivery.text == "收到：人才公寓"
    assert delivery.reply is not None and delivery.reply["ToUserName"] == OPENID
    method, query, body = webhook.received[0]
    assert method == "POST" and query["openid"] == OPENID and "encrypt_type" not in query
    assert query["signature"] == sha1_of_sorted(TOKEN, query["timestamp"], query["nonce"])
    assert xml_fields(body) == {k: str(v) for k, v in message.items()}


@pytest.mark.parametrize("answer", ["success", ""])
def test_deliver_without_passive_reply(fake: FakeWeChat, webhook: Webhook, answer: str) -> None:
    webhook.respond = lambda method, query, body: (200, answer)
    delivery = fake.deliver(webhook.url, fake.event(OPENID, "subscribe"))
    assert (delivery.status, delivery.body, delivery.reply, delivery.text) == (
        200,
        answer,
        None,
        "",
    )


def test_deliver_overrides_and_raw_bodies(fake: FakeWeChat, webhook: Webhook) -> None:
    webhook.respond = lambda method, query, body: (400, "bad request")
    raw = "<xml><Content>broken"
    delivery = fake.deliver(webhook.url, raw, timestamp=1700000000, signature="forged")
    assert (delivery.status, delivery.body, delivery.reply, delivery.attempts) == (
        400,
        "bad request",
        None,
        1,
    )
    _, query, body = webhook.received[0]
    assert body == raw and "openid" not in query
    assert (query["timestamp"], query["signature"]) == ("1700000000", "forged")


def test_deliver_rejects_a_reply_that_is_not_xml(fake: FakeWeChat, webhook: Webhook) -> None:
    webhook.respond = lambda method, query, body: (200, "OK!")
    with pytest.raises(AssertionError, match="not XML"):
        fake.deliver(webhook.url, fake.text(OPENID, "hi"))


def encrypted_echo(method: str, query: Dict[str, str], body: str) -> Tuple[int, str]:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    assert query["encrypt_type"] == "aes"
    plain = crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
    fields = xml_fields(plain)
    return 200, crypto.encrypt_message(text_reply(fields, "密文：" + fields["Content"]), "987654")


def test_deliver_encrypted_round_trip(fake: FakeWeChat, webhook: Webhook) -> None:
    webhook.respond = encrypted_echo
    delivery = fake.deliver(webhook.url, fake.text(OPENID, "落户政策"), encrypt=True)
    assert delivery.status == 200, delivery.body
    assert delivery.text == "密文：落户政策" and delivery.reply["MsgType"] == "text"
    _, query, body = webhook.received[0]
    envelope = xml_fields(body)
    assert list(envelope) == ["ToUserName", "Encrypt"] and envelope["ToUserName"] == "gh_fake"
    assert "落户" not in body and query["openid"] == OPENID
    assert query["signature"] == sha1_of_sorted(TOKEN, query["timestamp"], query["nonce"])
    assert query["msg_signature"] == sha1_of_sorted(
        TOKEN, query["timestamp"], query["nonce"], envelope["Encrypt"]
    )


def test_deliver_encrypted_checks_the_reply(fake: FakeWeChat, webhook: Webhook) -> None:
    def forged(method: str, query: Dict[str, str], body: str) -> Tuple[int, str]:
        status, reply = encrypted_echo(method, query, body)
        signature = xml_fields(reply)["MsgSignature"]
        return status, reply.replace(signature, "0" * 40)

    webhook.respond = forged
    with pytest.raises(AssertionError, match="MsgSignature"):
        fake.deliver(webhook.url, fake.text(OPENID, "hi"), encrypt=True)
    plain = text_reply({"FromUserName": OPENID, "ToUserName": "gh_fake"}, "plaintext")
    webhook.respond = lambda method, query, body: (200, plain)
    with pytest.raises(AssertionError, match="plaintext"):
        fake.deliver(webhook.url, fake.text(OPENID, "hi"), encrypt=True)


def test_deliver_encrypted_with_forged_msg_signature(fake: FakeWeChat, webhook: Webhook) -> None:
    webhook.respond = encrypted_echo
    delivery = fake.deliver(
        webhook.url, fake.text(OPENID, "hi"), encrypt=True, msg_signature="0" * 40
    )
    assert delivery.status == 500 and "InvalidSignature" in delivery.body
    assert webhook.received[0][1]["msg_signature"] == "0" * 40


def test_safe_mode_needs_the_aes_key(webhook: Webhook) -> None:
    plain = FakeWeChat(APPID, SECRET, TOKEN)
    with pytest.raises(ValueError, match="EncodingAESKey"):
        plain.deliver(webhook.url, plain.text(OPENID, "hi"), encrypt=True)
    assert webhook.received == []


def test_deliver_retries_a_slow_webhook(fake: FakeWeChat, webhook: Webhook) -> None:
    def slow(method: str, query: Dict[str, str], body: str) -> Tuple[int, str]:
        webhook.release.wait(1.5)
        return 200, "success"

    webhook.respond = slow
    message = fake.text(OPENID, "hi")
    delivery = fake.deliver(webhook.url, message, timeout=0.3)
    assert (delivery.status, delivery.attempts, delivery.reply) == (None, 3, None)
    assert 0.9 <= delivery.elapsed < 2.5
    assert len(webhook.received) == 3
    assert len({(body, tuple(sorted(query.items()))) for _, query, body in webhook.received}) == 1
    assert xml_fields(webhook.received[0][2])["MsgId"] == str(message["MsgId"])


def test_deliver_stops_retrying_once_answered(fake: FakeWeChat, webhook: Webhook) -> None:
    def slow_once(method: str, query: Dict[str, str], body: str) -> Tuple[int, str]:
        if len(webhook.received) == 1:
            webhook.release.wait(1.5)
        return echo(method, query, body)

    webhook.respond = slow_once
    delivery = fake.deliver(webhook.url, fake.text(OPENID, "重试"), timeout=0.3, attempts=5)
    assert (delivery.status, delivery.attempts, delivery.text) == (200, 2, "收到：重试")
    assert len(webhook.received) == 2


def test_deliver_retries_connection_errors(fake: FakeWeChat) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/wechat"
    delivery = fake.deliver(url, fake.text(OPENID, "hi"), attempts=2, timeout=0.3)
    assert (delivery.status, delivery.body, delivery.attempts) == (None, "", 2)


def test_deliver_all_sends_identical_copies_concurrently(
    fake: FakeWeChat, webhook: Webhook
) -> None:
    webhook.respond = echo
    message = fake.text(OPENID, "并发")
    deliveries = fake.deliver_all(webhook.url, message, copies=3)
    assert [d.text for d in deliveries] == ["收到：并发"] * 3
    assert {xml_fields(body)["MsgId"] for _, _, body in webhook.received} == {str(message["MsgId"])}
    assert len(webhook.received) == 3
