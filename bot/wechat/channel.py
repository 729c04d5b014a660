"""Rasa input channel of the WeChat official account, at ``/webhooks/wechat/webhook``.

Registered in ``credentials.yml`` as ``bot.wechat.channel.WeChatInput``; configured from the
environment (``bot.wechat.settings``). WeChat waits 5 seconds for the answer to a message and
otherwise delivers it again, up to three times. So a message is processed once whatever the
deliveries (``WeChatStore.claim``); what is ready within ``passive_seconds`` is the passive
reply, and a slower answer, the rest of a long one and every staff message go through the
customer-service message API (``bot.wechat.api``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.wechat import protocol
from bot.wechat.api import DROPPED, WeChatAPI, WeChatAPIError, mask_openid
from bot.wechat.menu import MenuError, click_payloads
from bot.wechat.protocol import Inbound, ProtocolError
from bot.wechat.render import MAX_BYTES, MORE_HINT, chosen_option, render
from bot.wechat.settings import WeChatSettings
from bot.wechat.store import Followup, WeChatStore

logger = logging.getLogger(__name__)

IMAGE_REPLY = (
    "您好，我暂时看不懂图片。请用文字描述您的问题，例如“海宁人才公寓怎么申请”；"
    "如需专员帮助，请回复“转人工”。"
)
VOICE_UNHEARD = "抱歉，没能听清您的语音。请您用文字再说一遍，例如“张家港人才贷最多贷多少”。"
UNSUPPORTED = (
    "您好，目前只能处理文字和语音消息。请用文字描述您的问题；如需专员帮助，请回复“转人工”。"
)
EMPTY_TEXT = "请输入您想咨询的问题，例如“海宁购房补贴怎么申请”。"
STILL_WORKING = "您的问题正在查询中，请稍后回复任意内容查看答复。"
SORRY = "抱歉，系统暂时繁忙，请稍后再试；如需专员帮助，请回复“转人工”。"
SUBSCRIBE_PAYLOAD = "/greet"
UNKNOWN_MENU_PAYLOAD = "/help"
# WeChat caps what a user can type far below this; it bounds the NLU's work on anything else.
MAX_TEXT_CHARS = 2000
# The in-process record of a message being processed (the database keeps it for all).
INFLIGHT_SECONDS = 600
# The rest of a long answer follows its passive first part, not overtakes it.
PUSH_AFTER_PASSIVE_SECONDS = 1.0
PART_BYTES = MAX_BYTES - len(MORE_HINT.encode("utf-8"))


def _query(request: Request) -> Dict[str, str]:
    return {key: str(request.args.get(key) or "") for key in request.args}


class WeChatPushOutput(CollectingOutputChannel):
    """Messages outside a passive reply, e.g. a specialist's (Rasa's ``output_channel=latest``):
    each is pushed through the customer-service message API as it comes."""

    def __init__(self, channel: WeChatInput) -> None:
        super().__init__()
        self.channel = channel

    @classmethod
    def name(cls) -> str:
        return WeChatInput.name()

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        # One message, not one per paragraph: each push counts against WeChat's quota.
        await self._persist_message(self._message(recipient_id, text=text))

    async def _persist_message(self, message: Dict[str, Any]) -> None:
        await self.channel.push(str(message["recipient_id"]), [message], report=True)


class WeChatInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        return cls(WeChatSettings.from_env())

    def __init__(self, settings: WeChatSettings, store: Optional[WeChatStore] = None) -> None:
        self.settings = settings
        self.store = store or WeChatStore()
        self.api = WeChatAPI(settings, self.store)
        try:
            self.menu_payloads = click_payloads()
        except MenuError as exc:
            logger.error("WeChat menu file invalid, menu clicks get the help text: %s", exc)
            self.menu_payloads = {}
        self._inflight: Dict[str, asyncio.Future] = {}
        # Background work (slow answers, pushes) is referenced until done.
        self._tasks: Set[asyncio.Task] = set()
        if not settings.enabled:
            logger.info("WeChat channel off: WECHAT_TOKEN is not set.")

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WeChatPushOutput(self) if self.settings.enabled else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "enabled": self.settings.enabled})

        @webhook.route("/webhook", methods=["GET"])
        async def handshake(request: Request) -> HTTPResponse:
            if not self.settings.enabled:
                return response.text("微信渠道未配置", status=403)
            try:
                protocol.check_request(self.settings, _query(request))
            except ProtocolError as exc:
                logger.warning("WeChat handshake refused: %s", exc.reason)
                return response.text(exc.reason, status=exc.status)
            return response.text(str(request.args.get("echostr") or ""))

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            deadline = asyncio.get_running_loop().time() + self.settings.passive_seconds
            if not self.settings.enabled:
                return response.text("微信渠道未配置", status=403)
            query = _query(request)
            try:
                protocol.check_request(self.settings, query)
                inbound = protocol.parse(self.settings, request.body or b"", query)
            except ProtocolError as exc:
                logger.warning("WeChat push refused (%s): %s", exc.status, exc.reason)
                return response.text(exc.reason, status=exc.status)
            try:
                reply = await self.answer(inbound, on_new_message, deadline)
            except Exception:  # never a 5xx: WeChat would only deliver it again
                logger.exception("WeChat message from %s failed", mask_openid(inbound.openid))
                reply = SORRY
            if not reply:
                return response.text("success")
            return response.text(
                protocol.text_reply(self.settings, inbound, reply),
                content_type="application/xml; charset=utf-8",
            )

        return webhook

    # -- one pushed message ------------------------------------------------------------

    async def answer(
        self,
        inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        deadline: float,
    ) -> Optional[str]:
        """The passive reply's text to ``inbound``, or None for "success" (no reply now)."""
        if inbound.kind == "event":
            if inbound.event == "subscribe":
                text = SUBSCRIBE_PAYLOAD
            elif inbound.event == "click":
                text = self.menu_payloads.get(inbound.event_key, UNKNOWN_MENU_PAYLOAD)
            else:  # unsubscribe, view, location reports, …: nothing to say
                return None
        elif inbound.kind == "image":
            return IMAGE_REPLY
        elif inbound.kind == "other":
            return UNSUPPORTED
        elif not inbound.content.strip():
            return VOICE_UNHEARD if inbound.kind == "voice" else EMPTY_TEXT
        else:
            text = inbound.content.strip()[:MAX_TEXT_CHARS]
        return await self._once(
            inbound.dedup_key,
            deadline,
            lambda: self._process(inbound, text, on_new_message, deadline),
        )

    async def _once(
        self, key: str, deadline: float, work: Callable[[], Awaitable[Optional[str]]]
    ) -> Optional[str]:
        """``work`` for the first delivery of a message; a repeated delivery waits for the
        first one's passive reply (in this process or, through the database, any other)."""
        loop = asyncio.get_running_loop()
        running = self._inflight.get(key)
        if running is not None:
            return await self._wait(running, deadline)
        future: asyncio.Future = loop.create_future()
        self._inflight[key] = future
        loop.call_later(INFLIGHT_SECONDS, self._inflight.pop, key, None)
        result: Optional[str] = None
        try:
            previous = await asyncio.to_thread(self.store.claim, key)
            if previous is None:
                result = await work()
            else:
                result = await self._poll(key, previous, deadline)
            return result
        finally:
            if not future.done():
                future.set_result(result)

    @staticmethod
    async def _wait(future: asyncio.Future, deadline: float) -> Optional[str]:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(remaining, 0.0))
        except asyncio.TimeoutError:
            return None

    async def _poll(self, key: str, previous: Any, deadline: float) -> Optional[str]:
        loop = asyncio.get_running_loop()
        outcome = previous
        while outcome is not None and outcome[0] == "processing":
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.2)
            outcome = await asyncio.to_thread(self.store.outcome, key)
        return outcome[1] if outcome is not None and outcome[0] == "replied" else None

    async def _process(
        self,
        inbound: Inbound,
        text: str,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        deadline: float,
    ) -> Optional[str]:
        key, openid = inbound.dedup_key, inbound.openid
        followup = await asyncio.to_thread(self.store.followup, openid)
        if followup.more and inbound.kind in ("text", "voice"):
            waiting = await asyncio.to_thread(
                self.store.take_more, openid, self.settings.options_minutes
            )
            if waiting is not None:
                part, remaining = waiting
                reply = part + (MORE_HINT if remaining else "")
                await asyncio.to_thread(self.store.finish, key, "replied", reply)
                return reply
        option = chosen_option(text, followup.options)
        if option is not None:
            text = option["payload"]
        collector = CollectingOutputChannel()
        message = UserMessage(
            text,
            collector,
            openid,
            input_channel=self.name(),
            message_id=str(inbound.msg_id) if inbound.msg_id else None,
            metadata={"wechat": {"msg_type": inbound.msg_type, "encrypted": inbound.encrypted}},
        )
        task = asyncio.create_task(on_new_message(message))
        remaining = deadline - asyncio.get_running_loop().time()
        done, _ = await asyncio.wait({task}, timeout=max(remaining, 0.05))
        if task in done:
            messages = collector.messages if task.exception() is None else [{"text": SORRY}]
            if task.exception() is not None:
                logger.error(
                    "WeChat message from %s failed in Rasa: %r",
                    mask_openid(openid),
                    task.exception(),
                )
            reply = await self._passive(openid, messages)
            await asyncio.to_thread(self.store.finish, key, "replied", reply)
            return reply
        # Too slow for the passive reply: finished in the background, then pushed.
        self._spawn(self._finish_late(task, openid, collector))
        if self.api.push_enabled:
            await asyncio.to_thread(self.store.finish, key, "async")
            return None
        await asyncio.to_thread(self.store.finish, key, "replied", STILL_WORKING)
        return STILL_WORKING

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _passive(self, openid: str, messages: List[Dict[str, Any]]) -> Optional[str]:
        """The first part of the answer for the passive reply; the rest is pushed, or kept
        for the user's next message when pushing is not possible."""
        rendered = render(messages, PART_BYTES)
        if not rendered.parts:  # e.g. a conversation a specialist has taken over
            await self._remember(openid, rendered.options, [])
            return None
        first, rest = rendered.parts[0], rendered.parts[1:]
        if rest and self.api.push_enabled:
            await self._remember(openid, rendered.options, [])
            self._spawn(self._push_parts(openid, rest, delay=PUSH_AFTER_PASSIVE_SECONDS))
            return first
        await self._remember(openid, rendered.options, rest)
        return first + (MORE_HINT if rest else "")

    async def _remember(self, openid: str, options: List[Dict[str, str]], more: List[str]) -> None:
        await asyncio.to_thread(
            self.store.save_followup,
            openid,
            Followup(options=options, more=more),
            self.settings.options_minutes,
        )

    async def _finish_late(
        self, task: asyncio.Task, openid: str, collector: CollectingOutputChannel
    ) -> None:
        try:
            await task
            messages = collector.messages
        except Exception as exc:
            logger.error("Slow WeChat message from %s failed: %r", mask_openid(openid), exc)
            messages = [{"text": SORRY}]
        rendered = render(messages, PART_BYTES)
        if self.api.push_enabled:
            await self._remember(openid, rendered.options, [])
            await self._push_parts(openid, rendered.parts)
        else:
            await self._remember(openid, rendered.options, rendered.parts)

    async def _push_parts(self, openid: str, parts: List[str], delay: float = 0.0) -> bool:
        """Pushes the parts in order; what cannot be pushed waits for the user's next
        message. False if something could not be pushed."""
        if delay:
            await asyncio.sleep(delay)
        for index, part in enumerate(parts):
            try:
                await self.api.send_text(openid, part)
            except WeChatAPIError as exc:
                logger.warning(
                    "WeChat push to %s failed (%s); %d part(s) kept for the next message",
                    mask_openid(openid),
                    exc,
                    len(parts) - index,
                )
                followup = await asyncio.to_thread(self.store.followup, openid)
                followup.more = parts[index:]
                await asyncio.to_thread(
                    self.store.save_followup, openid, followup, self.settings.options_minutes
                )
                return False
        return True

    # -- messages outside a passive reply (staff) ---------------------------------------

    async def push(self, openid: str, messages: List[Dict[str, Any]], report: bool = False) -> None:
        """Pushes bot messages to ``openid`` now; with ``report``, a refusal is shown on the
        conversation's open handoff ticket in the console (and a later success clears it)."""
        rendered = render(messages, PART_BYTES)
        if rendered.options:
            await self._remember(openid, rendered.options, [])
        error: Optional[str] = None
        for part in rendered.parts:
            try:
                await self.api.send_text(openid, part)
            except WeChatAPIError as exc:
                error = DROPPED.get(exc.errcode) or (
                    "公众号未获客服消息接口权限，消息无法推送"
                    if exc.errcode == 48001
                    else f"微信接口错误（{exc.errcode}），消息可能未送达"
                )
                logger.warning(
                    "WeChat message to %s dropped: %s (%s)", mask_openid(openid), error, exc
                )
                break
        if report:
            await asyncio.to_thread(self._record_delivery, openid, error)

    def _record_delivery(self, openid: str, error: Optional[str]) -> None:
        from bot.handoff.tickets import HandoffService

        try:
            HandoffService(self.store.database_url).record_delivery(openid, error)
        except Exception:  # the message itself was handled; the console note is a bonus
            logger.exception("Could not record a WeChat delivery problem on the ticket")
