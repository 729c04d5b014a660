"""Faults on the scaled deployment: conversations spread across replicas, a replica killed
under load, PostgreSQL and Redis restarted under load, the action servers down, a staff
message to a socket held by another replica, and a handoff across a restart of everything.
Every acknowledged message must be kept, and no request may get a 5xx."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import pytest
import requests

from bot.handoff.staff import StaffDirectory
from bot.runner import user_events
from bot.scaled.stack import ScaledStack
from tests.integration.citizen import Citizen

pytestmark = pytest.mark.scaled
QUESTIONS = ["张家港人才贷最多能贷多少", "那要抵押吗", "海宁人才公寓怎么申请", "谢谢"]
PASSWORD = "scaled test password"


@pytest.fixture(scope="module")
def specialist(scaled: ScaledStack) -> str:
    StaffDirectory(scaled.settings.database_url).create("sc-wang", PASSWORD, "specialist", "王专员")
    return "sc-wang"


def say(stack: ScaledStack, sender: str, text: str) -> requests.Response:
    return requests.post(
        f"{stack.public_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=60,
    )


def user_texts(stack: ScaledStack, sender: str) -> List[str]:
    api = f"http://127.0.0.1:{stack.ports.rasa_api}"
    return [e["text"] for e in user_events(api, stack.token, sender)]


@dataclass
class Load:
    """Conversations that keep talking through nginx until stopped."""

    stack: ScaledStack
    conversations: int = 8
    results: List[Dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: List[threading.Thread] = field(default_factory=list)

    def _talk(self, sender: str) -> None:
        turn = 0
        while not self._stop.is_set():
            text = QUESTIONS[turn % len(QUESTIONS)]
            turn += 1
            status: Optional[int]
            try:
                status = say(self.stack, sender, text).status_code
            except requests.RequestException:
                status = None
            self.results.append({"sender": sender, "text": text, "status": status})

    def __enter__(self) -> Load:
        run = uuid.uuid4().hex[:6]
        for i in range(self.conversations):
            thread = threading.Thread(target=self._talk, args=(f"load-{run}-{i}",), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)

    def check(self) -> None:
        """No 5xx or dropped request; every acknowledged message is in its conversation."""
        assert self.results, "the load sent nothing"
        failed = [r for r in self.results if r["status"] != 200]
        assert not failed, f"{len(failed)} of {len(self.results)} requests failed: {failed[:5]}"
        by_sender: Dict[str, List[str]] = {}
        for r in self.results:
            by_sender.setdefault(r["sender"], []).append(r["text"])
        for sender, sent in by_sender.items():
            stored = user_texts(self.stack, sender)
            for text in set(sent):
                assert stored.count(text) >= sent.count(text), (sender, text)


def test_conversations_spread_across_replicas_keep_their_state(scaled: ScaledStack) -> None:
    sender = uuid.uuid4().hex
    first = say(scaled, sender, "张家港的人才贷是什么")
    second = say(scaled, sender, "那要抵押吗")
    assert first.ok and second.ok
    assert "无抵押" in "".join(m.get("text", "") for m in second.json())
    # A third turn, whichever replica the first two reached, still knows the topic.
    third = say(scaled, sender, "最多能贷多少")
    assert third.ok and "3000万" in "".join(m.get("text", "") for m in third.json())
    log = (scaled.data_dir / "nginx" / "access.log").read_text(encoding="utf-8")
    lines = [line for line in log.splitlines() if "/webhooks/rest" in line]
    # The last field is $upstream_addr ("a, b" when nginx passed a request on): the last
    # address is the replica that answered.
    served_by = {line.rsplit(" ", 1)[-1] for line in lines}
    assert {f"127.0.0.1:{port}" for port in scaled.ports.rasa} <= served_by, lines


def test_staff_message_reaches_a_socket_held_by_another_replica(
    scaled: ScaledStack, specialist: str
) -> None:
    web = scaled.public_url

    async def scenario() -> None:
        # The citizen holds a socket on replica 1; staff messages go through either replica.
        citizen = Citizen(scaled.rasa_url(1))
        await citizen.connect()
        await citizen.say("转人工")
        await citizen.wait_for("排在第")
        http = requests.Session()
        token = http.post(
            f"{web}/api/login", json={"username": specialist, "password": PASSWORD}, timeout=10
        ).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        waiting = http.get(f"{web}/api/handoffs?status=waiting", timeout=10).json()
        ticket = next(t for t in waiting if t["sender_id"] == citizen.session_id)
        assert http.post(f"{web}/api/handoffs/{ticket['id']}/claim", timeout=10).ok
        for n in range(4):
            sent = http.post(
                f"{web}/api/handoffs/{ticket['id']}/messages",
                json={"text": f"第{n}条专员消息"},
                timeout=10,
            )
            assert sent.status_code == 202
            await citizen.wait_for(f"第{n}条专员消息", timeout=10)
        assert http.post(f"{web}/api/handoffs/{ticket['id']}/close", timeout=10).ok
        await citizen.wait_for("本次人工服务已结束")
        await citizen.sio.disconnect()

    asyncio.run(scenario())
    log = (scaled.data_dir / "nginx" / "access.log").read_text(encoding="utf-8")
    api_replicas = {
        line.rsplit(" ", 1)[-1] for line in log.splitlines() if "/tracker/events" in line
    }
    assert f"127.0.0.1:{scaled.ports.rasa[1]}" in api_replicas


def test_a_replica_killed_under_load_loses_nothing(scaled: ScaledStack) -> None:
    with Load(scaled) as load:
        time.sleep(4)
        rasa1 = scaled.service("rasa1").process
        assert rasa1 is not None
        rasa1.send_signal(signal.SIGKILL)
        time.sleep(8)
    load.check()
    assert len(load.results) > 20
    scaled.start_service("rasa1")


def test_postgres_and_redis_restarted_under_load(scaled: ScaledStack) -> None:
    for server in ("postgres", "redis"):
        with Load(scaled) as load:
            time.sleep(3)
            scaled.stop_service(server)
            time.sleep(1)
            scaled.start_service(server)
            time.sleep(5)
        load.check()


def test_action_servers_down_get_an_apology_and_a_person(scaled: ScaledStack) -> None:
    for name in ("actions1", "actions2"):
        scaled.stop_service(name)
    try:
        reply = say(scaled, uuid.uuid4().hex, "张家港人才贷最多能贷多少")
        assert reply.status_code == 200
        text = "".join(m.get("text", "") for m in reply.json())
        assert "暂时无法处理" in text and "转人工" in text
    finally:
        for name in ("actions1", "actions2"):
            scaled.start_service(name)
    again = say(scaled, uuid.uuid4().hex, "张家港人才贷最多能贷多少")
    assert "3000万元" in "".join(m.get("text", "") for m in again.json())


def test_a_handoff_survives_a_restart_of_everything(scaled: ScaledStack, specialist: str) -> None:
    sender = uuid.uuid4().hex
    assert "排在第" in "".join(m.get("text", "") for m in say(scaled, sender, "转人工").json())
    scaled.stop()
    scaled.start()
    # Still handed over: the bot stays quiet and the ticket waits in the queue.
    assert say(scaled, sender, "还有人吗").json() == []
    token = requests.post(
        f"{scaled.public_url}/api/login",
        json={"username": specialist, "password": PASSWORD},
        timeout=10,
    ).json()["token"]
    waiting = requests.get(
        f"{scaled.public_url}/api/handoffs?status=waiting",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert any(t["sender_id"] == sender for t in waiting)
    assert user_texts(scaled, sender)[-2:] == ["转人工", "还有人吗"]


def test_every_service_reports_health_readiness_and_metrics(scaled: ScaledStack) -> None:
    for replica in (1, 2):
        ready = requests.get(f"{scaled.rasa_url(replica)}/webhooks/ops/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {
            "model": "ok",
            "tracker_store": "ok",
            "lock_store": "ok",
        }
        scraped = requests.get(f"{scaled.rasa_url(replica)}/webhooks/ops/metrics", timeout=10)
        assert "talent_messages_total" in scraped.text
    for port in scaled.ports.action_servers:
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).ok
    assert requests.get(f"http://127.0.0.1:{scaled.ports.web}/ready", timeout=10).ok
    # Not through the public entry.
    for path in ("/webhooks/ops/metrics", "/metrics"):
        assert requests.get(f"{scaled.public_url}{path}", timeout=10).status_code == 404
