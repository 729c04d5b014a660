"""Client of WeChat's server API: the access token (获取稳定版接口调用凭据), customer-service
messages (客服消息, for slow answers and staff messages) and the custom menu.

Asynchronous (aiohttp), so it never blocks the Rasa server's event loop; database calls go
through ``asyncio.to_thread``. Every retry is bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any, Dict, Mapping, Optional

import aiohttp

from bot.metrics import WECHAT_API_ERRORS
from bot.wechat.settings import WeChatSettings
from bot.wechat.store import WeChatStore

logger = logging.getLogger(__name__)

# A token is replaced this long before WeChat says it expires.
REFRESH_MARGIN = dt.timedelta(minutes=5)
# Waits after WeChat's "system busy" (-1) or a network error; then the call gives up.
BACKOFF_SECONDS = (0.5, 1.0, 2.0)
TOKEN_INVALID = {40001, 40014, 42001}
API_UNAUTHORIZED = 48001
# Refused for this user or today; retrying cannot help.
DROPPED = {
    45015: "用户超过 48 小时未与公众号互动，微信不再允许向其推送消息",
    45047: "向该用户推送的客服消息已达微信的条数上限",
}

# Error codes counted by their own label in the metrics (others: "other").
KNOWN_ERRORS = {-1, 40001, 40014, 40164, 42001, 45009, 45015, 45047, 48001}


class WeChatAPIError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def mask_openid(openid: str) -> str:
    """An openid as logs show it: enough to correlate lines, not to identify the user."""
    return openid[:4] + "***" if len(openid) > 6 else "***"


class WeChatAPI:
    def __init__(self, settings: WeChatSettings, store: WeChatStore, timeout: float = 5.0) -> None:
        self.settings = settings
        self.store = store
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None
        self._lock = asyncio.Lock()
        self._token: Optional[str] = None
        self._expires_at = dt.datetime.min
        # Off without AppID/AppSecret, or once WeChat answers 48001 (not authorised).
        self.push_enabled = settings.can_push
        self._sleep = asyncio.sleep

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(
        self, path: str, body: Mapping[str, Any], params: Optional[Dict[str, str]] = None
    ) -> Dict[str, Any]:
        """One POST; WeChat's error codes become WeChatAPIError (-2 for the network)."""
        # UTF-8 as it is: WeChat shows \\uXXXX escapes literally in menus.
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        session = await self._http()
        try:
            async with session.post(
                self.settings.api_base + path,
                params=params or {},
                data=data,
                headers={"Content-Type": "application/json; charset=utf-8"},
            ) as response:
                if response.status >= 500:
                    raise WeChatAPIError(-1, f"HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            WECHAT_API_ERRORS.labels("network").inc()
            raise WeChatAPIError(-2, f"network: {type(exc).__name__}") from exc
        if not isinstance(answer, dict):
            raise WeChatAPIError(-2, "unexpected answer")
        errcode = int(answer.get("errcode") or 0)
        if errcode:
            WECHAT_API_ERRORS.labels(str(errcode) if errcode in KNOWN_ERRORS else "other").inc()
            raise WeChatAPIError(errcode, str(answer.get("errmsg") or ""))
        return answer

    async def access_token(self, rejected: Optional[str] = None) -> str:
        """A valid token: this process's, else the one another process stored, else a new one
        from ``stable_token`` (which gives every caller the same token while it is valid)."""
        async with self._lock:
            now = await asyncio.to_thread(self.store.now)
            if self._token and self._token != rejected and self._expires_at - now > REFRESH_MARGIN:
                return self._token
            stored = await asyncio.to_thread(self.store.access_token, self.settings.appid)
            if stored and stored[0] != rejected and stored[1] - now > REFRESH_MARGIN:
                self._token, self._expires_at = stored
                return stored[0]
            answer = await self._post(
                "/cgi-bin/stable_token",
                {
                    "grant_type": "client_credential",
                    "appid": self.settings.appid,
                    "secret": self.settings.secret,
                    "force_refresh": False,
                },
            )
            token = str(answer.get("access_token") or "")
            if not token:
                raise WeChatAPIError(-2, "no access_token in answer")
            expires_at = now + dt.timedelta(seconds=int(answer.get("expires_in") or 7200))
            await asyncio.to_thread(
                self.store.save_access_token, self.settings.appid, token, expires_at
            )
            self._token, self._expires_at = token, expires_at
            logger.info("WeChat access token fetched, valid until %s", expires_at)
            return token

    async def call(self, path: str, body: Mapping[str, Any]) -> Dict[str, Any]:
        """An API call with the access token: an invalid or expired token is fetched again
        once and the call retried once; "busy" and network errors are retried after a
        growing pause, a bounded number of times."""
        token = await self.access_token()
        refetched = False
        waits = list(BACKOFF_SECONDS)
        while True:
            try:
                return await self._post(path, body, {"access_token": token})
            except WeChatAPIError as exc:
                if exc.errcode in TOKEN_INVALID and not refetched:
                    refetched = True
                    token = await self.access_token(rejected=token)
                    continue
                if exc.errcode in (-1, -2) and waits:
                    await self._sleep(waits.pop(0))
                    continue
                if exc.errcode == API_UNAUTHORIZED and self.push_enabled:
                    self.push_enabled = False
                    logger.error(
                        "WeChat answered 48001 (api unauthorized): this official account may not "
                        "use customer-service messages; slow answers and staff messages are no "
                        "longer pushed. Users fetch waiting answers with their next message."
                    )
                raise

    async def send_text(self, openid: str, text: str) -> None:
        if not self.push_enabled:
            raise WeChatAPIError(API_UNAUTHORIZED, "push disabled")
        await self.call(
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": text}},
        )

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        await self.call("/cgi-bin/menu/create", menu)
