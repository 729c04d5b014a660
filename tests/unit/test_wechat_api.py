"""The WeChat API client against the local fake of WeChat's servers: the shared access
token, bounded retries, and what each error code does."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Iterator, List

import pytest

from bot.wechat.api import WeChatAPI, WeChatAPIError
from bot.wechat.fake import FakeWeChat
from bot.wechat.menu import load_menu
from bot.wechat.settings import WeChatSettings
from bot.wechat.store import WeChatStore

APPID, SECRET, TOKEN = "wx0123456789abcdef", "app-secret", "msg-token"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    with FakeWeChat(APPID, SECRET, TOKEN) as server:
        yield server


def client(fake: FakeWeChat, db_url: str, secret: str = SECRET) -> WeChatAPI:
    settings = WeChatSettings(token=TOKEN, appid=APPID, secret=secret, api_base=fake.url)
    api = WeChatAPI(settings, WeChatStore(db_url))
    pauses: List[float] = []

    async def no_wait(seconds: float) -> None:
        pauses.append(seconds)

    api._sleep = no_wait  # type: ignore[assignment]
    api.pauses = pauses  # type: ignore[attr-defined]
    return api


def run(api: WeChatAPI, work: Awaitable[Any]) -> Any:
    async def main() -> Any:
        try:
            return await work
        finally:
            await api.close()

    return asyncio.run(main())


def endpoints(fake: FakeWeChat) -> List[tuple]:
    return [(r.endpoint, r.errcode) for r in fake.requests]


def test_token_is_fetched_once_and_shared_through_the_database(
    fake: FakeWeChat, db_url: str
) -> None:
    first = client(fake, db_url)
    run(first, first.send_text("oA", "一"))
    run(first, first.send_text("oA", "二"))
    # Another process (another client on the same database) uses the stored token.
    second = client(fake, db_url)
    run(second, second.send_text("oB", "三"))
    assert [e for e, _ in endpoints(fake)].count("stable_token") == 1
    assert [m["text"]["content"] for m in fake.sent_messages()] == ["一", "二", "三"]
    body = fake.requests[0].body
    assert body == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": SECRET,
        "force_refresh": False,
    }


def test_expired_token_is_fetched_again_once(fake: FakeWeChat, db_url: str) -> None:
    api = client(fake, db_url)
    run(api, api.send_text("oA", "一"))
    fake.expire_tokens()
    run(api, api.send_text("oA", "二"))
    assert endpoints(fake) == [
        ("stable_token", 0),
        ("custom_send", 0),
        ("custom_send", 42001),
        ("stable_token", 0),
        ("custom_send", 0),
    ]


def test_invalid_token_twice_gives_up_after_one_refetch(fake: FakeWeChat, db_url: str) -> None:
    api = client(fake, db_url)
    fake.script("custom_send", 40001, 40001)
    with pytest.raises(WeChatAPIError) as error:
        run(api, api.send_text("oA", "一"))
    assert error.value.errcode == 40001
    assert [e for e, _ in endpoints(fake)] == [
        "stable_token",
        "custom_send",
        "stable_token",
        "custom_send",
    ]


def test_busy_is_retried_with_growing_pauses_then_given_up(fake: FakeWeChat, db_url: str) -> None:
    api = client(fake, db_url)
    fake.script("custom_send", -1, -1)
    run(api, api.send_text("oA", "一"))
    assert api.pauses == [0.5, 1.0]  # type: ignore[attr-defined]
    fake.script("custom_send", -1, -1, -1, -1, -1)
    with pytest.raises(WeChatAPIError):
        run(api, api.send_text("oA", "二"))
    sends = [code for endpoint, code in endpoints(fake) if endpoint == "custom_send"]
    assert sends == [-1, -1, 0, -1, -1, -1, -1]  # 1 + 3 retries, then it stops


@pytest.mark.parametrize("errcode", [45015, 45047])
def test_refusals_for_the_user_are_not_retried(fake: FakeWeChat, db_url: str, errcode: int) -> None:
    api = client(fake, db_url)
    fake.script("custom_send", errcode)
    with pytest.raises(WeChatAPIError) as error:
        run(api, api.send_text("oA", "一"))
    assert error.value.errcode == errcode
    assert [e for e, _ in endpoints(fake)].count("custom_send") == 1
    assert api.push_enabled


def test_unauthorised_account_turns_pushing_off(
    fake: FakeWeChat, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = client(fake, db_url)
    fake.script("custom_send", 48001)
    with pytest.raises(WeChatAPIError):
        run(api, api.send_text("oA", "一"))
    assert not api.push_enabled
    assert "48001" in caplog.text
    with pytest.raises(WeChatAPIError):
        run(api, api.send_text("oA", "二"))
    assert [e for e, _ in endpoints(fake)].count("custom_send") == 1


def test_wrong_secret_and_unreachable_server(fake: FakeWeChat, db_url: str) -> None:
    api = client(fake, db_url, secret="wrong")
    with pytest.raises(WeChatAPIError) as error:
        run(api, api.send_text("oA", "一"))
    assert error.value.errcode == 40125
    settings = WeChatSettings(
        token=TOKEN, appid=APPID, secret=SECRET, api_base="http://127.0.0.1:9"
    )
    offline = WeChatAPI(settings, WeChatStore(db_url))
    offline._sleep = client(fake, db_url)._sleep  # type: ignore[assignment]
    with pytest.raises(WeChatAPIError) as error:
        run(offline, offline.send_text("oA", "一"))
    assert error.value.errcode == -2


def test_menu_is_created_as_wechat_wants_it(fake: FakeWeChat, db_url: str) -> None:
    api = client(fake, db_url)
    menu, _ = load_menu()
    run(api, api.create_menu(menu))
    assert fake.menu == menu
    assert fake.menu["button"][0]["sub_button"][0]["name"] == "购房租房补贴"
