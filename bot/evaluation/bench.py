"""Performance benchmark (``python -m bot bench``): training time, start time, latency, memory.

Everything runs on the loopback interface against a stack started here, with a fresh tracker
store, and every load phase is bounded in time and in number of requests. Results go to
``var/bench/bench.json`` and a timestamped copy next to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import aiohttp
import numpy as np

from bot.config import Settings
from bot.evaluation.bench_handoff import (
    TARGET_DELIVERY_MEDIAN_S,
    TARGET_QUEUE_MAX_S,
    measure_handoff,
)
from bot.evaluation.bench_lookup import APPLICATIONS, TARGET_LOOKUP_MEDIAN_MS, measure_lookup
from bot.evaluation.bench_wechat import measure_wechat
from bot.evaluation.bench_widget import TARGET_MEDIAN_MS as TARGET_WIDGET_MEDIAN_MS
from bot.evaluation.bench_widget import measure_widget_answers
from bot.evaluation.report import (
    TARGET_HEADERS,
    Target,
    first_turns,
    format_table,
    load_questions,
    process_tree,
    reply_text,
    start_stack,
)
from bot.evaluation.slow_actions import SlowActionProxy
from bot.runner import Stack, rest_message
from bot.wechat.fake import FakeWeChat

# Concurrent conversations measured after the single one (_floor_and_one_conversation).
CONCURRENT_LEVELS = (8, 32)
WARMUP_REQUESTS = 20
# The floor and the single conversation alternate in slices this long (see
# _floor_and_one_conversation).
SLICE_SECONDS = 1.0
MAX_REQUESTS_PER_PHASE = 20_000  # a bound on count as well as time, whatever the duration
REQUEST_TIMEOUT = 30.0
TRAIN_TIMEOUT = 1800.0
FIRST_REPLY_TIMEOUT = 120.0
TARGET_TRAIN_SECONDS = 180.0
TARGET_START_SECONDS = 30.0
TARGET_P95_AT_8_MS = 250.0
TARGET_SINGLE_VS_PARSE = 2.0


def _env() -> Dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


# --------------------------------------------------------------------------- training


def measure_training(settings: Settings, log_path: Path) -> Dict[str, Any]:
    """Seconds of a full, forced training into a temporary directory (models/ is untouched)."""
    if os.environ.get("BENCH_SKIP_TRAIN") == "1":
        return {"skipped": True, "seconds": None}
    print("训练计时（rasa train --force）……", flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as out, open(log_path, "wb") as log:
        argv = [
            sys.executable, "-m", "rasa", "train",
            "--fixed-model-name", "bench",
            "--out", out,
            "--augmentation", "0",
            "--quiet",
            "--force",
        ]  # fmt: skip
        started = time.monotonic()
        try:
            code = subprocess.call(
                argv,
                cwd=settings.root,
                env=_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=TRAIN_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            code = None
        seconds = time.monotonic() - started
    return {"skipped": False, "seconds": seconds, "exit_code": code, "log": str(log_path)}


# --------------------------------------------------------------------------- load


@dataclass
class Phase:
    """Latencies (ms) of the successful requests of one phase, and its errors."""

    latencies: List[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    seconds: float = 0.0

    def summary(self) -> Dict[str, Any]:
        values = np.array(self.latencies) if self.latencies else None
        figures: Dict[str, Any] = {
            "requests": self.sent,
            "ok": len(self.latencies),
            "errors": self.errors,
            "seconds": self.seconds,
            "throughput_rps": len(self.latencies) / self.seconds if self.seconds else 0.0,
        }
        for name, q in (("median_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
            figures[name] = float(np.percentile(values, q)) if values is not None else None
        return figures


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    body: Dict[str, str],
    params: Optional[Dict[str, str]] = None,
) -> bool:
    """True when the request succeeded and the answer is not empty (for the webhook: the bot
    said something)."""
    try:
        async with session.post(url, json=body, params=params) as response:
            data = await response.json(content_type=None)
            return response.status == 200 and bool(data)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return False


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
    )


async def _parse_until(
    session: aiohttp.ClientSession,
    base_url: str,
    token: str,
    texts: Sequence[str],
    start: int,
    deadline: float,
    phase: Phase,
) -> int:
    """/model/parse, one request at a time, until ``deadline``; returns the next text's index."""
    url = f"{base_url}/model/parse"
    params = {"token": token}
    i = start
    while time.monotonic() < deadline and phase.sent < MAX_REQUESTS_PER_PHASE:
        text = texts[i % len(texts)]
        i += 1
        phase.sent += 1
        t0 = time.perf_counter()
        if await _post(session, url, {"text": text}, params):
            phase.latencies.append((time.perf_counter() - t0) * 1000)
        else:
            phase.errors += 1
    return i


TURNS_PER_CONVERSATION = 8


async def _conversation(
    session: aiohttp.ClientSession,
    url: str,
    sender: str,
    texts: Sequence[str],
    offset: int,
    deadline: float,
    phase: Phase,
    start: Optional[int] = None,
) -> int:
    """One conversation's turns until ``deadline``, from question ``start`` (default
    ``offset``); returns where it stopped, so that it can go on later."""
    i = offset if start is None else start
    while time.monotonic() < deadline and phase.sent < MAX_REQUESTS_PER_PHASE:
        text = texts[i % len(texts)]
        # A citizen's conversation is a handful of turns; one endless conversation would
        # measure Rasa replaying an ever longer tracker instead.
        conversation = f"{sender}-{(i - offset) // TURNS_PER_CONVERSATION}"
        i += 1
        phase.sent += 1
        t0 = time.perf_counter()
        if await _post(session, url, {"sender": conversation, "message": text}):
            phase.latencies.append((time.perf_counter() - t0) * 1000)
        else:
            phase.errors += 1
    return i


async def _webhook_level(
    base_url: str, texts: Sequence[str], level: int, duration: float, run_id: str
) -> Dict[str, Any]:
    """``level`` conversations at once, each its own sender, for ``duration`` seconds."""
    url = f"{base_url}/webhooks/rest/webhook"
    phase = Phase()
    async with _session() as session:
        started = time.monotonic()
        deadline = started + duration
        # Workers start at different questions so that they do not ask in lockstep.
        step = max(1, len(texts) // level)
        await asyncio.gather(
            *(
                _conversation(
                    session, url, f"bench-{run_id}-c{level}-{w}", texts, w * step, deadline, phase
                )
                for w in range(level)
            )
        )
        phase.seconds = time.monotonic() - started
    return {"conversations": level, **phase.summary()}


async def _floor_and_one_conversation(
    base_url: str, token: str, texts: Sequence[str], duration: float, run_id: str
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The NLU floor and one conversation over the webhook, ``duration`` seconds each, in
    alternating slices of ``SLICE_SECONDS``. Their ratio is a target; measured one after the
    other, it also took in how the shared machine's speed drifted in between (±20 % within
    a minute here), so both are measured across the same minute instead."""
    floor, single = Phase(), Phase()
    webhook = f"{base_url}/webhooks/rest/webhook"
    sender = f"bench-{run_id}-c1-0"
    async with _session() as session:
        # Both paths warm before either is measured: the first turns of a conversation also
        # fill the action server's and the policies' caches, not only the NLU's.
        for text in texts[:WARMUP_REQUESTS]:
            await _post(session, f"{base_url}/model/parse", {"text": text}, {"token": token})
        for i, text in enumerate(texts[:WARMUP_REQUESTS]):
            warmup = f"{sender}-warmup-{i // TURNS_PER_CONVERSATION}"
            await _post(session, webhook, {"sender": warmup, "message": text})
        parse_at, turn_at, left = 0, 0, duration
        while left > 0:
            span = min(SLICE_SECONDS, left)
            left -= span
            started = time.monotonic()
            parse_at = await _parse_until(
                session, base_url, token, texts, parse_at, started + span, floor
            )
            floor.seconds += time.monotonic() - started
            started = time.monotonic()
            turn_at = await _conversation(
                session, webhook, sender, texts, 0, started + span, single, turn_at
            )
            single.seconds += time.monotonic() - started
    return floor.summary(), {"conversations": 1, **single.summary()}


# --------------------------------------------------------------------------- start, memory


def _wait_first_reply(base_url: str, sender: str, started: float) -> float:
    """Seconds from ``started`` until the bot first answers a message."""
    deadline = time.monotonic() + FIRST_REPLY_TIMEOUT
    while True:
        try:
            if reply_text(rest_message(base_url, sender, "你好", timeout=10)):
                return time.monotonic() - started
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Rasa 在 {FIRST_REPLY_TIMEOUT:.0f} 秒内没有回复")
        time.sleep(0.2)


def rss_mb(pid: int) -> Optional[float]:
    """Resident memory of a process and its descendants, in MiB (VmRSS from /proc)."""
    total_kb = 0
    found = False
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
                found = True
    return total_kb / 1024 if found else None


def _pid(stack: Stack, name: str) -> Optional[int]:
    for service in stack.services:
        if service.name == name and service.process is not None:
            return int(service.process.pid)
    return None


# --------------------------------------------------------------------------- report


def _ms(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _secs(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def build_targets(result: Dict[str, Any]) -> List[Target]:
    parse_median = result["bare_parse"]["median_ms"]
    levels = {lv["conversations"]: lv for lv in result["webhook"]}
    single = levels.get(1, {}).get("median_ms")
    p95_8 = levels.get(8, {}).get("p95_ms")
    train = result["training"]
    start = result["start"]["first_reply_seconds"]
    targets = [
        Target(
            "1 路会话中位数 / 裸 parse 中位数",
            f"{single / parse_median:.2f}× ({_ms(single)} / {_ms(parse_median)} ms)"
            if single and parse_median
            else "n/a",
            f"≤ {TARGET_SINGLE_VS_PARSE:.0f}×",
            bool(single and parse_median and single <= TARGET_SINGLE_VS_PARSE * parse_median),
        ),
        Target(
            "8 路并发 p95",
            f"{_ms(p95_8)} ms",
            f"≤ {TARGET_P95_AT_8_MS:.0f} ms",
            p95_8 is not None and p95_8 <= TARGET_P95_AT_8_MS,
        ),
    ]
    if not train["skipped"]:
        ok = train["exit_code"] == 0 and train["seconds"] < TARGET_TRAIN_SECONDS
        targets.append(
            Target(
                "训练时间 training",
                _secs(train["seconds"]) + ("" if train["exit_code"] == 0 else " (失败)"),
                f"< {TARGET_TRAIN_SECONDS:.0f} s",
                ok,
            )
        )
    lookup = result.get("lookup") or {}
    median = lookup.get("median_ms")
    targets.append(
        Target(
            f"状态查询动作中位数（{lookup.get('applications', 0)} 条办件）",
            f"{_ms(median)} ms" + (f"，{lookup['errors']} 次错误" if lookup.get("errors") else ""),
            f"< {TARGET_LOOKUP_MEDIAN_MS:.0f} ms",
            median is not None and median < TARGET_LOOKUP_MEDIAN_MS and not lookup.get("errors"),
        )
    )
    handoff = result.get("handoff") or {}
    delivery = (handoff.get("delivery") or {}).get("median_s")
    queue_max = (handoff.get("queue") or {}).get("max_s")
    targets.append(
        Target(
            "专员消息送达网页用户（中位数）",
            _secs(delivery) if delivery is None else f"{delivery * 1000:.0f} ms",
            f"< {TARGET_DELIVERY_MEDIAN_S:.0f} s",
            delivery is not None and delivery < TARGET_DELIVERY_MEDIAN_S,
        )
    )
    targets.append(
        Target(
            "新用户消息出现在排队视图（最长）",
            _secs(queue_max) if queue_max is None else f"{queue_max * 1000:.0f} ms",
            f"≤ {TARGET_QUEUE_MAX_S:.0f} s",
            queue_max is not None and queue_max <= TARGET_QUEUE_MAX_S,
        )
    )
    widget = result.get("widget") or {}
    if widget:
        targets.append(
            Target(
                f"网页组件：回车到答案出现（中位数，{widget['rounds']} 问）",
                f"{widget['median_ms']:.0f} ms（p95 {widget['p95_ms']:.0f} ms）",
                f"≤ {TARGET_WIDGET_MEDIAN_MS:.0f} ms",
                widget["median_ms"] <= TARGET_WIDGET_MEDIAN_MS,
            )
        )
    wechat = result.get("wechat") or {}
    if wechat:
        on_time, total = wechat["answered_within_5s"], wechat["messages"]
        targets.append(
            Target(
                f"微信消息 5 秒内应答（其中 {wechat['slowed']} 条动作人为放慢）",
                f"{on_time}/{total}，最长 {wechat['max_s']:.2f} s，"
                f"API 补发 {wechat['pushed_arrived']}/{wechat['pushed']}",
                "100%",
                on_time == total and wechat["pushed_arrived"] == wechat["pushed"],
            )
        )
        twice = wechat["processed_twice"] + wechat["never_processed"]
        targets.append(
            Target(
                "微信消息重复处理 / 漏处理",
                f"{wechat['processed_twice']} / {wechat['never_processed']}",
                "0 / 0",
                twice == 0,
            )
        )
    targets.append(
        Target(
            "启动到首次回复 start to first reply",
            _secs(start),
            f"≤ {TARGET_START_SECONDS:.0f} s",
            start <= TARGET_START_SECONDS,
        )
    )
    return targets


def _print_tables(result: Dict[str, Any], targets: Sequence[Target]) -> None:
    headers = ("场景 scenario", "median ms", "p95 ms", "p99 ms", "req/s", "请求", "错误")
    parse = result["bare_parse"]
    rows = [
        [
            "/model/parse 顺序",
            _ms(parse["median_ms"]),
            _ms(parse["p95_ms"]),
            _ms(parse["p99_ms"]),
            f"{parse['throughput_rps']:.1f}",
            str(parse["requests"]),
            str(parse["errors"]),
        ]
    ]
    for lv in result["webhook"]:
        rows.append(
            [
                f"webhook {lv['conversations']} 路会话",
                _ms(lv["median_ms"]),
                _ms(lv["p95_ms"]),
                _ms(lv["p99_ms"]),
                f"{lv['throughput_rps']:.1f}",
                str(lv["requests"]),
                str(lv["errors"]),
            ]
        )
    lookup = result.get("lookup")
    if lookup:
        rows.append(
            [
                f"action_check_application（{lookup['applications']} 条）",
                _ms(lookup["median_ms"]),
                _ms(lookup["p95_ms"]),
                "n/a",
                "n/a",
                str(lookup["calls"]),
                str(lookup["errors"]),
            ]
        )
    print("\n" + format_table(headers, rows))
    memory = result["memory"]
    train = result["training"]
    other = [
        ["训练 training", "跳过 skipped" if train["skipped"] else _secs(train["seconds"])],
        [
            "导入 10,000 条办件 import",
            _secs((result.get("lookup") or {}).get("import", {}).get("seconds")),
        ],
        ["Rasa 就绪 ready (/status)", _secs(result["start"]["ready_seconds"])],
        ["首次回复 first reply", _secs(result["start"]["first_reply_seconds"])],
        ["Rasa RSS", _mb(memory["rasa_rss_mb"])],
        ["动作服务器 action server RSS", _mb(memory["actions_rss_mb"])],
        ["CPU 核数", str(result["cpu_count"])],
    ]
    print("\n" + format_table(("指标 metric", "数值 value"), other))
    print("\n" + format_table(TARGET_HEADERS, [t.row() for t in targets]), flush=True)


def _mb(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def run_benchmark(settings: Settings, duration: float) -> int:
    """Runs the benchmark; 0 when it ran (whatever the figures), 1 on an error."""
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    out_dir = settings.var_dir / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        if duration <= 0:
            raise ValueError("--duration 须大于 0")
        if not settings.model_path.is_file():
            raise FileNotFoundError(f"模型不存在：{settings.model_path}，请先运行 make train")
        texts = first_turns(load_questions(settings.root))
        result: Dict[str, Any] = {
            "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
            "duration_per_phase": duration,
            "cpu_count": os.cpu_count(),
            "questions": len(texts),
            # Training first: measured while nothing else of ours competes for the CPU.
            "training": measure_training(settings, out_dir / "train.log"),
        }

        # WeChat's side is the local fake; a proxy slows chosen conversations' actions.
        wechat = FakeWeChat("wxbench", "bench-secret", "bench-token")
        wechat.start()
        os.environ.update(
            WECHAT_TOKEN="bench-token",
            WECHAT_APPID="wxbench",
            WECHAT_SECRET="bench-secret",
            WECHAT_AES_KEY="",
            WECHAT_API_BASE=wechat.url,
        )
        try:
            print("启动 Rasa 与动作服务器……", flush=True)
            stack, started = start_stack(settings, out_dir)
            base_settings, settings = settings, stack.settings
            run_id = uuid.uuid4().hex[:8]
            try:
                ready = time.monotonic() - started
                first_reply = _wait_first_reply(settings.rasa_url, f"bench-{run_id}-start", started)
                result["start"] = {"ready_seconds": ready, "first_reply_seconds": first_reply}
                print(
                    f"裸 NLU（/model/parse）与 REST webhook 1 路会话，交替各 {duration:.0f} 秒……",
                    flush=True,
                )
                floor, single = asyncio.run(
                    _floor_and_one_conversation(
                        settings.rasa_url, stack.token, texts, duration, run_id
                    )
                )
                result["bare_parse"] = floor
                result["webhook"] = [single]
                for level in CONCURRENT_LEVELS:
                    print(f"REST webhook：{level} 路会话 {duration:.0f} 秒……", flush=True)
                    result["webhook"].append(
                        asyncio.run(
                            _webhook_level(settings.rasa_url, texts, level, duration, run_id)
                        )
                    )
                print(f"状态查询：{APPLICATIONS} 条办件……", flush=True)
                result["lookup"] = measure_lookup(
                    settings.database_url, settings.action_url, settings.root, out_dir
                )
                print("人工转接：专员消息送达与排队实时更新……", flush=True)
                result["handoff"] = measure_handoff(
                    settings.database_url, settings.rasa_url, settings.web_url
                )
                print("网页组件：真实 Chromium 中提问到答案出现……", flush=True)
                result["widget"] = measure_widget_answers(settings.web_url)
                rasa_pid, actions_pid = _pid(stack, "rasa"), _pid(stack, "actions")
                result["memory"] = {
                    "rasa_rss_mb": rss_mb(rasa_pid) if rasa_pid else None,
                    "actions_rss_mb": rss_mb(actions_pid) if actions_pid else None,
                }
                if not stack.alive():
                    raise RuntimeError("基准测试过程中 Rasa 或动作服务器退出，结果无效")
            finally:
                stack.stop()

            # WeChat last, on a stack of its own whose actions go through a proxy that slows
            # chosen conversations (the phases above measure Rasa calling the action server
            # directly, as deployed).
            proxy = SlowActionProxy("")  # its upstream is the action server, once it has a port
            proxy.start()
            try:
                print("微信渠道：200 条消息，其中 20 条动作放慢到 5 秒以上……", flush=True)
                stack, _ = start_stack(base_settings, out_dir / "wechat", action_proxy=proxy)
                try:
                    result["wechat"] = measure_wechat(wechat, stack.settings.rasa_url, stack.token)
                    if not stack.alive():
                        raise RuntimeError("基准测试过程中 Rasa 或动作服务器退出，结果无效")
                finally:
                    stack.stop()
            finally:
                proxy.stop()

        finally:
            wechat.stop()

        targets = build_targets(result)
        result["targets"] = [t.as_dict() for t in targets]
        text = json.dumps(result, ensure_ascii=False, indent=2)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        (out_dir / "bench.json").write_text(text, encoding="utf-8")
        (out_dir / f"bench-{stamp}.json").write_text(text, encoding="utf-8")
        _print_tables(result, targets)
        print(f"\n结果：{out_dir / 'bench.json'}（副本 bench-{stamp}.json）", flush=True)
        return 0
    except Exception as exc:
        # Any failure is the command's exit code 1; the traceback says where it happened.
        traceback.print_exc()
        print(f"基准测试失败：{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
