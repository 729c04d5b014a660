"""The WeChat protocol pieces: signatures, parsing, safe mode, passive replies, rendering,
the menu file and the settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.wechat import protocol
from bot.wechat.menu import MenuError, load_menu
from bot.wechat.protocol import ProtocolError
from bot.wechat.render import MAX_BYTES, chosen_option, render, split
from bot.wechat.settings import WeChatConfigError, WeChatSettings

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SETTINGS = WeChatSettings(token="tok3n", appid="wx0123456789abcdef", secret="s", aes_key=AES_KEY)


def signed(settings: WeChatSettings = SETTINGS, **extra: str) -> dict:
    timestamp, nonce = str(int(time.time())), "8812"
    return {
        "signature": protocol.sign(settings.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


def text_xml(content: str = "你好", msg_id: int = 1234567890123456) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_city]]></ToUserName>"
        "<FromUserName><![CDATA[oUser123456]]></FromUserName>"
        f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def test_published_signature_vector() -> None:
    # wechatpy's and WeChat's documented example: token "test".
    query = {
        "signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff",
        "timestamp": "1410685589",
        "nonce": "test",
    }
    protocol.check_request(WeChatSettings(token="test"), query, now=1410685589)
    with pytest.raises(ProtocolError) as forged:
        protocol.check_request(
            WeChatSettings(token="test"), {**query, "nonce": "tesT"}, now=1410685589
        )
    assert forged.value.status == 403


def test_old_or_missing_signature_is_refused() -> None:
    query = signed()
    with pytest.raises(ProtocolError, match="过期"):
        protocol.check_request(SETTINGS, query, now=int(query["timestamp"]) + 301)
    with pytest.raises(ProtocolError, match="缺少"):
        protocol.check_request(SETTINGS, {"timestamp": query["timestamp"]})
    with pytest.raises(ProtocolError, match="时间戳"):
        bad = {"timestamp": "abc", "nonce": "1"}
        bad["signature"] = protocol.sign(SETTINGS.token, "abc", "1")
        protocol.check_request(SETTINGS, bad)


def test_text_message_is_parsed() -> None:
    inbound = protocol.parse(SETTINGS, text_xml("海宁人才公寓").encode(), signed())
    assert (inbound.kind, inbound.openid, inbound.account) == ("text", "oUser123456", "gh_city")
    assert inbound.content == "海宁人才公寓"
    assert inbound.dedup_key == "msg:1234567890123456"
    assert not inbound.encrypted


def test_event_dedup_key_uses_sender_and_time() -> None:
    xml = (
        "<xml><ToUserName>gh</ToUserName><FromUserName>oA</FromUserName>"
        "<CreateTime>1700000001</CreateTime><MsgType>event</MsgType>"
        "<Event>CLICK</Event><EventKey>STATUS_CHECK</EventKey></xml>"
    )
    inbound = protocol.parse(SETTINGS, xml.encode(), signed())
    assert (inbound.kind, inbound.event, inbound.event_key) == ("event", "click", "STATUS_CHECK")
    assert inbound.dedup_key == "evt:oA:1700000001:click"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<xml><ToUserName>gh",
        b"not xml at all",
        b"<xml><MsgType>text</MsgType></xml>",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><xml><a>&a;</a></xml>",
        "<xml>\udcff</xml>".encode("utf-8", "surrogatepass"),
        b"<xml>" + b"x" * 70000 + b"</xml>",
    ],
)
def test_malformed_bodies_are_client_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError) as error:
        protocol.parse(SETTINGS, body, signed())
    assert 400 <= error.value.status < 500


def test_safe_mode_round_trip() -> None:
    crypto = WeChatCrypto(SETTINGS.token, AES_KEY, SETTINGS.appid)
    timestamp, nonce = str(int(time.time())), "77"
    envelope = crypto.encrypt_message(text_xml("人才贷"), nonce, timestamp)
    fields = xmltodict.parse(envelope)["xml"]
    query = {
        "signature": protocol.sign(SETTINGS.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": fields["MsgSignature"],
    }
    body = (
        "<xml><ToUserName><![CDATA[gh_city]]></ToUserName>"
        f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>"
    )
    inbound = protocol.parse(SETTINGS, body.encode(), query)
    assert inbound.encrypted and inbound.content == "人才贷"

    reply = protocol.text_reply(SETTINGS, inbound, "答复 ]]> 结束")
    outer = xmltodict.parse(reply)["xml"]
    plain = crypto.decrypt_message(reply, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    assert xmltodict.parse(plain)["xml"]["Content"] == "答复 ]]> 结束"

    with pytest.raises(ProtocolError) as forged:
        protocol.parse(SETTINGS, body.encode(), {**query, "msg_signature": "0" * 40})
    assert forged.value.status == 403
    plaintext_only = WeChatSettings(token=SETTINGS.token)
    with pytest.raises(ProtocolError, match="EncodingAESKey"):
        protocol.parse(plaintext_only, body.encode(), query)


def test_plain_reply_escapes_cdata_end() -> None:
    inbound = protocol.parse(SETTINGS, text_xml().encode(), signed())
    reply = protocol.text_reply(SETTINGS, inbound, 'a]]>b<a href="x">链接</a>')
    parsed = xmltodict.parse(reply)["xml"]
    assert parsed["Content"] == 'a]]>b<a href="x">链接</a>'
    assert (parsed["ToUserName"], parsed["FromUserName"]) == ("oUser123456", "gh_city")


def test_render_merges_messages_and_numbers_buttons() -> None:
    rendered = render(
        [
            {"text": "第一段"},
            {"text": "详见[政策原文](https://example.gov.cn/a?b=1&c=2)"},
            {
                "text": "请选择城市",
                "buttons": [
                    {"title": "海宁市", "payload": '/inform_region{"region": "海宁市"}'},
                    {"title": "张家港市", "payload": '/inform_region{"region": "张家港市"}'},
                    {"title": "官网", "payload": "https://example.gov.cn"},
                ],
            },
        ]
    )
    assert len(rendered.parts) == 1
    text = rendered.parts[0]
    assert text.startswith("第一段\n\n详见")
    assert '<a href="https://example.gov.cn/a?b=1&amp;c=2">政策原文</a>' in text
    assert '<a href="https://example.gov.cn">官网</a>' in text
    assert text.endswith("请回复数字选择：\n1. 海宁市\n2. 张家港市")
    assert [o["title"] for o in rendered.options] == ["海宁市", "张家港市"]
    assert chosen_option("2", rendered.options)["title"] == "张家港市"
    assert chosen_option(" ２ ", rendered.options)["title"] == "张家港市"
    assert chosen_option("第1个", rendered.options)["title"] == "海宁市"
    assert chosen_option("3", rendered.options) is None
    assert chosen_option("0003", rendered.options) is None
    assert chosen_option("2", []) is None


def test_long_text_is_split_within_the_byte_limit_at_line_ends() -> None:
    paragraph = "人才政策说明。" * 40  # 840 bytes
    text = "\n\n".join([paragraph] * 4) + "\n" + '<a href="https://x.cn">' + "链" * 30 + "</a>"
    parts = split(text)
    assert len(parts) >= 2
    assert all(len(p.encode("utf-8")) <= MAX_BYTES for p in parts)
    assert all(p.endswith("。") or p.endswith("</a>") for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    # No newline at all: cut between characters, never inside a link.
    solid = "字" * 1000 + '<a href="https://x.cn">链接</a>' + "字" * 10
    parts = split(solid, 3005)
    assert parts[0] == "字" * 1000 and parts[1].startswith("<a href")


def test_menu_file_is_valid_and_payloads_are_stripped(tmp_path: Path) -> None:
    menu, payloads = load_menu()
    assert [b["name"] for b in menu["button"]] == ["政策咨询", "进度查询", "人工服务"]
    assert "payload" not in str(menu)
    assert payloads["STATUS_CHECK"] == "/check_status"
    assert payloads["HUMAN_SERVICE"] == "/request_human"
    bad = tmp_path / "menu.yml"
    bad.write_text("button:\n  - {type: click, name: 太长太长太长太长太长, key: K, payload: x}\n")
    with pytest.raises(MenuError, match="name 过长"):
        load_menu(bad)
    bad.write_text("button:\n  - {type: click, name: 查询, key: K}\n")
    with pytest.raises(MenuError, match="payload"):
        load_menu(bad)


def test_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_TOKEN", "t")
    monkeypatch.setenv("WECHAT_AES_KEY", "short")
    with pytest.raises(WeChatConfigError, match="43"):
        WeChatSettings.from_env()
    monkeypatch.setenv("WECHAT_AES_KEY", AES_KEY)
    monkeypatch.delenv("WECHAT_APPID", raising=False)
    with pytest.raises(WeChatConfigError, match="WECHAT_APPID"):
        WeChatSettings.from_env()
    monkeypatch.setenv("WECHAT_APPID", "wx1")
    monkeypatch.setenv("WECHAT_API_BASE", "http://127.0.0.1:9/")
    settings = WeChatSettings.from_env()
    assert settings.enabled and not settings.can_push
    assert settings.api_base == "http://127.0.0.1:9"
