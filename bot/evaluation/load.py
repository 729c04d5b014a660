"""Load test (``python -m bot load``, ``make load``): the single-process default against the
scaled deployment, under the same simulated citizens, in one run.

Locust drives the load: the user class is in :mod:`bot.evaluation.locustfile` and runs in a
``locust --headless`` subprocess, because importing Locust monkey-patches the whole process
with gevent (sockets, threads, subprocesses), which must touch neither this process — it
starts and stops the servers — nor the unit tests that import the functions below.

For each deployment, started here on free loopback ports with fresh data:

1. a step test: a few user counts (``STEP_USERS``) for ``step_duration`` seconds each, which
   traces throughput against p95 latency;
2. the main run: ``users`` conversations (200) for ``duration`` seconds (60).

Every run is bounded in users, time (``-t``) and requests (``LOAD_MAX_REQUESTS``) and sends
only to 127.0.0.1. Statistics are reset once every user has spawned, so the figures cover the
steady state. CPU time of every server process, of Locust and of the whole machine is read
from /proc over the same window. The throughput the two deployments reach at equal p95 is
interpolated on the step curves. Results: ``var/bench/load.json`` and a timestamped copy.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

from bot.config import Settings

# --------------------------------------------------------------------------- the citizens

WEBHOOK = "/webhooks/rest/webhook"
# Multi-turn conversations as citizens hold them: a policy question and its follow-ups (some
# without the city, which the bot asks for or remembers), greetings and thanks, traditional
# characters, and a verified status lookup of the sample export (imported on start).
CONVERSATIONS: Tuple[Tuple[str, ...], ...] = (
    ("你好", "张家港的人才贷是什么", "那要抵押吗", "谢谢"),
    ("海宁人才公寓怎么申请", "需要带什么材料？", "谢谢"),
    ("购房补贴怎么申请", "海宁", "再见"),
    ("张家港人才贷最多能贷多少", "申请条件是什么"),
    ("海宁市有没有人才绿卡", "那我要满足什么条件才能拿到？", "谢谢"),
    ("你好", "在张家港工作，孩子上学怎么办"),
    ("帮我查一下HN-2024-00103，尾号0003", "我还要补什么材料", "那什么时候能办好", "谢谢"),
    ("张家港攀峰计划是啥", "是一企一策吗"),
    ("海寧的人才綠卡是給哪些人的？", "谢谢"),
    ("海宁引进人才子女就学是怎么回事", "那具体怎么办理？"),
    ("张家港有购房补贴吗", "每个人能补多少", "谢谢"),
    ("海宁给人才安排体检吗？", "再见"),
)
# Think time between two turns, in seconds. Real citizens read a several-line answer and type
# the next question, 10-30 s; so short a pause makes 200 simulated conversations a heavy
# closed-loop load (~0.6 turns/s each, ~120 turns/s offered) that saturates either deployment,
# which is what a capacity comparison needs; the step test gives the lightly loaded points.
THINK_MIN_S = 0.5
THINK_MAX_S = 2.0
# A citizen who waited this long has given up; it is also Rasa's own --response-timeout.
REQUEST_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
# A bound on the count of requests of one Locust run, whatever the duration.
MAX_REQUESTS_PER_RUN = 60_000

# The kinds of failure the user class reports (its failure messages start with one).
FAILURE_KINDS = ("timeout", "connection", "5xx", "4xx", "empty", "bad_reply")


def classify_reply(
    status: int, error: Optional[BaseException], body: Optional[str]
) -> Optional[str]:
    """The failure kind of one webhook call, or None when the bot answered. ``status`` 0 means
    no HTTP response (Locust's FastHttpUser reports the exception in ``error``)."""
    if not status:
        text = f"{type(error).__name__} {error}".lower() if error is not None else ""
        if isinstance(error, TimeoutError) or "timeout" in text or "timed out" in text:
            return "timeout"
        return "connection"
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    try:
        replies = json.loads(body or "")
    except ValueError:
        return "bad_reply"
    if not isinstance(replies, list):
        return "bad_reply"
    # An empty list: the bot said nothing, which a citizen sees as a failure too.
    return None if replies else "empty"


# --------------------------------------------------------------------------- Locust's output

_KIND_RE = re.compile(r"(" + "|".join(re.escape(k) for k in FAILURE_KINDS) + r")\b")


def failure_kind(error: str) -> str:
    """The kind of one of Locust's recorded errors: the user class fails a request with
    ``"<kind> <detail>"``, which Locust records as ``CatchResponseError('<kind> <detail>')``;
    anything else is ``other``."""
    quoted = re.search(r"\('(.*)'\)\s*$", error.strip(), re.DOTALL)
    match = _KIND_RE.match(quoted.group(1) if quoted else error.strip())
    return match.group(1) if match else "other"


def percentile(histogram: Dict[int, int], q: float) -> Optional[float]:
    """Nearest-rank percentile (0 < q <= 1) of a {milliseconds: count} histogram."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


def summarise_locust(stats: Dict[str, Any]) -> Dict[str, Any]:
    """Requests, throughput, percentiles and failures of one run from the figures the user
    class writes when Locust quits (``LOAD_RESULT_FILE``). Throughput counts answered turns
    only, over the window from the statistics' reset to the last request. Percentiles are
    over every request, failed ones included, from Locust's histogram (rounded to 2
    significant digits: 10 ms steps above 100 ms, 100 ms steps above 1 s)."""
    requests = int(stats.get("requests") or 0)
    failures = int(stats.get("failures") or 0)
    histogram = {int(float(k)): int(v) for k, v in (stats.get("response_times") or {}).items()}
    start, last = stats.get("start_time"), stats.get("last_request_timestamp")
    window = (last - start) if start and last and last > start else None
    kinds: Dict[str, int] = {}
    for error in stats.get("errors") or []:
        kind = failure_kind(str(error.get("error") or ""))
        kinds[kind] = kinds.get(kind, 0) + int(error.get("occurrences") or 0)
    return {
        "requests": requests,
        "failures": failures,
        "failure_kinds": kinds,
        "exceptions": int(stats.get("exceptions") or 0),
        "window_s": window,
        "throughput_rps": (requests - failures) / window if window else 0.0,
        "p50_ms": percentile(histogram, 0.50),
        "p95_ms": percentile(histogram, 0.95),
        "p99_ms": percentile(histogram, 0.99),
        "max_ms": stats.get("max_ms"),
    }


# --------------------------------------------------------------------------- equal p95


def throughput_at_p95(
    points: Sequence[Tuple[float, float]], target_ms: float
) -> Tuple[Optional[float], str]:
    """The throughput a deployment sustains at p95 = ``target_ms``, from its (p95 ms, req/s)
    points in order of increasing users: linear interpolation between the two points around
    the target. p95 is made non-decreasing first (more users cannot be faster; a dip is
    noise). Returns (req/s, how): "interpolated"; "at_least" when the target lies above every
    measured p95 (the largest measured throughput, a lower bound); (None, "below") when even
    the lightest load was slower than the target."""
    envelope: List[Tuple[float, float]] = []
    highest = -math.inf
    for p95, rps in points:
        highest = max(highest, p95)
        envelope.append((highest, rps))
    if not envelope or target_ms < envelope[0][0]:
        return None, "below"
    if target_ms > envelope[-1][0]:
        return max(rps for _, rps in envelope), "at_least"
    if len(envelope) == 1 or target_ms == envelope[0][0]:
        return envelope[0][1], "interpolated"
    for (p0, r0), (p1, r1) in zip(envelope, envelope[1:]):
        if p0 <= target_ms <= p1 and p1 > p0:
            return r0 + (r1 - r0) * (target_ms - p0) / (p1 - p0), "interpolated"
    # Only reached when the target equals a flat stretch of the envelope: its first point.
    return next(r for p, r in envelope if p == target_ms), "interpolated"


def curve(stack_result: Dict[str, Any]) -> List[Tuple[float, float]]:
    """(p95, req/s) of the step runs and the main run, in order of users."""
    runs = [*stack_result.get("steps", []), stack_result["main"]]
    runs = sorted((r for r in runs if r.get("p95_ms") is not None), key=lambda r: r["users"])
    return [(r["p95_ms"], r["throughput_rps"]) for r in runs]


def compare_at_p95(
    single: Dict[str, Any], scaled: Dict[str, Any], budget_ms: float
) -> List[Dict[str, Any]]:
    """Throughput of both deployments at two equal p95 figures: a fixed latency budget, and the
    lower of the two main runs' p95 (both near saturation: the capacity comparison)."""
    targets: List[Tuple[str, float]] = [("budget", budget_ms)]
    p95s = [single["main"].get("p95_ms"), scaled["main"].get("p95_ms")]
    if all(p is not None for p in p95s):
        targets.append(("saturated", min(p95s)))  # type: ignore[type-var]
    rows = []
    for name, target in targets:
        one, one_how = throughput_at_p95(curve(single), target)
        two, two_how = throughput_at_p95(curve(scaled), target)
        ratio = two / one if one and two is not None else None
        # A lower bound on the scaled side or an upper bound on the single side (and the
        # converse) makes the ratio a bound too.
        if ratio is not None and two_how == "at_least" and one_how != "at_least":
            bound = "at_least"
        elif ratio is not None and one_how == "at_least" and two_how != "at_least":
            bound = "at_most"
        elif ratio is not None and one_how == two_how == "at_least":
            bound = "unknown"
        else:
            bound = "interpolated" if ratio is not None else "n/a"
        rows.append(
            {
                "name": name,
                "p95_ms": target,
                "single_rps": one,
                "single_how": one_how,
                "scaled_rps": two,
                "scaled_how": two_how,
                "ratio": ratio,
                "ratio_how": bound,
            }
        )
    return rows


# --------------------------------------------------------------------------- CPU from /proc

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process and of its reaped children (/proc/PID/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name, which is in parentheses and may contain spaces.
    fields = text[text.rfind(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    from bot.evaluation.report import process_tree

    return sum(process_cpu_seconds(member) for member in process_tree(pid))


def machine_cpu_seconds() -> Tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user).
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass
class CpuSnapshot:
    at: float
    machine_busy: float
    services: Dict[str, float] = field(default_factory=dict)
    locust: float = 0.0


def snapshot(pids: Dict[str, int], locust_pid: Optional[int]) -> CpuSnapshot:
    busy, _ = machine_cpu_seconds()
    return CpuSnapshot(
        at=time.monotonic(),
        machine_busy=busy,
        services={name: tree_cpu_seconds(pid) for name, pid in pids.items()},
        locust=process_cpu_seconds(locust_pid) if locust_pid else 0.0,
    )


def service_group(name: str) -> str:
    """rasa1, rasa2 → rasa; actions1 → actions."""
    return name.rstrip("0123456789")


def cpu_usage(before: CpuSnapshot, after: CpuSnapshot, turns: int) -> Dict[str, Any]:
    """Cores used on average over the window by each service, group, Locust, the rest of the
    machine; and CPU milliseconds per answered turn of the server processes."""
    wall = after.at - before.at
    if wall <= 0:
        return {}
    services = {
        name: max(after.services.get(name, 0.0) - before.services.get(name, 0.0), 0.0) / wall
        for name in after.services
    }
    groups: Dict[str, float] = {}
    for name, cores in services.items():
        groups[service_group(name)] = groups.get(service_group(name), 0.0) + cores
    servers = sum(services.values())
    locust = max(after.locust - before.locust, 0.0) / wall
    machine = max(after.machine_busy - before.machine_busy, 0.0) / wall
    return {
        "window_s": wall,
        "cores": os.cpu_count(),
        "machine_busy_cores": machine,
        "services": services,
        "groups": groups,
        "servers_cores": servers,
        "locust_cores": locust,
        # Anything else on the machine: other work, the kernel's own threads.
        "other_cores": max(machine - servers - locust, 0.0),
        "server_cpu_ms_per_turn": servers * wall * 1000 / turns if turns else None,
        "cpu_ms_per_turn": {g: c * wall * 1000 / turns for g, c in groups.items()} if turns else {},
    }


# --------------------------------------------------------------------------- one Locust run

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SPAWNED_MARK = "All users spawned"
STOPPING_MARK = "run-time limit reached"
LOCUST_GRACE_S = 90.0  # startup, writing the CSV files; then the run is killed


def check_loopback(url: str) -> None:
    """The load goes to this machine only."""
    host = urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"负载测试只发往本机回环地址，拒绝 {url}")


def run_locust(
    settings: Settings,
    host: str,
    users: int,
    duration: float,
    spawn_rate: float,
    out_dir: Path,
    label: str,
    pids: Dict[str, int],
) -> Dict[str, Any]:
    """One headless Locust run against ``host``: ``users`` users, spawned at ``spawn_rate``
    per second, then ``duration`` seconds of measurement (stats reset once all have spawned)."""
    check_loopback(host)
    rate = max(1.0, min(spawn_rate, float(users)))
    run_time = math.ceil(duration + users / rate)
    prefix = out_dir / label
    result_file = out_dir / f"{label}.json"
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--host", host,
        "-u", str(users),
        "-r", f"{rate:g}",
        "-t", f"{run_time}s",
        "--reset-stats",
        "--stop-timeout", "0",
        "--only-summary",
        # Kept beside the results: the per-second history, for a look after a surprise.
        "--csv", str(prefix),
        "--loglevel", "INFO",
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(settings.root),
        "PYTHONWARNINGS": "ignore",
        "LOAD_RUN_ID": f"{label}-{uuid.uuid4().hex[:6]}",
        "LOAD_MAX_REQUESTS": str(MAX_REQUESTS_PER_RUN),
        "LOAD_RESULT_FILE": str(result_file),
    }
    marks: Dict[str, CpuSnapshot] = {}
    with open(out_dir / f"{label}.log", "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv,
            cwd=settings.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        # The run ends by itself at -t; this only guards against a hung Locust.
        watchdog = threading.Timer(run_time + LOCUST_GRACE_S, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if SPAWNED_MARK in line and "start" not in marks:
                    marks["start"] = snapshot(pids, proc.pid)
                elif STOPPING_MARK in line and "end" not in marks:
                    marks["end"] = snapshot(pids, proc.pid)
            code = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if code != 0:
        raise RuntimeError(f"Locust 退出码 {code}（{label}），见 {out_dir / (label + '.log')}")
    if not result_file.is_file():
        raise RuntimeError(f"Locust 没有写出结果（{label}），见 {out_dir / (label + '.log')}")
    result: Dict[str, Any] = {
        "label": label,
        "users": users,
        "spawn_rate": rate,
        "duration_s": duration,
        **summarise_locust(json.loads(result_file.read_text(encoding="utf-8"))),
    }
    if result["exceptions"] or not result["requests"]:
        raise RuntimeError(
            f"Locust 运行无效（{label}：{result['requests']} 个请求，"
            f"{result['exceptions']} 个用户类异常），见 {out_dir / (label + '.log')}"
        )
    if len(marks) == 2:
        answered = result["requests"] - result["failures"]
        result["cpu"] = cpu_usage(marks["start"], marks["end"], answered)
    return result


# --------------------------------------------------------------------------- the deployments

STEP_USERS = (10, 20, 30, 40, 60, 100)
SPAWN_RATE = 50.0  # 200 users in 4 s: a short ramp, but not 200 first messages at once
P95_BUDGET_MS = 1000.0  # a chat answer within a second, 19 times out of 20
PAUSE_BETWEEN_RUNS_S = 3.0  # lets the requests cut off at the end of a run drain
TARGET_RATIO = 1.3
# Cores used by other processes during a run above which its figures are flagged: the
# development machine is shared, and 2 cores leave no slack.
DISTURBED_CORES = 0.25
# For the sizing: a citizen reads a several-line answer and types the next question (an
# assumption, not a measurement).
CITIZEN_SECONDS_PER_TURN = 20.0


def _service_pids(stack: Any) -> Dict[str, int]:
    return {s.name: int(s.process.pid) for s in stack.services if s.process is not None}


def _warm_up(base_url: str, run_id: str, rounds: int) -> Dict[str, Any]:
    """Every conversation once per round, one message at a time: loads what each replica
    loads lazily, and checks that every turn is answered before the figures count."""
    from bot.runner import rest_message

    sent = unanswered = 0
    problems: List[str] = []
    for r in range(rounds):
        for i, turns in enumerate(CONVERSATIONS):
            sender = f"warmup-{run_id}-{r}-{i}"
            for text in turns:
                sent += 1
                try:
                    problem = (
                        None
                        if rest_message(base_url, sender, text, timeout=REQUEST_TIMEOUT_S)
                        else "无回复"
                    )
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    problem = str(exc)
                if problem is not None:
                    unanswered += 1
                    problems.append(f"{text}: {problem}")
    return {"messages": sent, "unanswered": unanswered, "problems": problems[:10]}


def _exercise(
    settings: Settings,
    name: str,
    stack: Any,
    base_url: str,
    users: int,
    duration: float,
    spawn_rate: float,
    steps: Sequence[int],
    step_duration: float,
    out_dir: Path,
    started: float,
) -> Dict[str, Any]:
    from bot.runner import import_samples

    result: Dict[str, Any] = {"start_seconds": time.monotonic() - started, "url": base_url}
    if stack.database_was_new:
        import_samples(stack.settings)  # the status lookup's sample applications
    pids = _service_pids(stack)
    run_id = uuid.uuid4().hex[:6]
    print(f"[{name}] 预热：每段对话各 2 遍……", flush=True)
    result["warmup"] = _warm_up(base_url, run_id, rounds=2)
    if result["warmup"]["unanswered"]:
        # Not fatal: the figures still count, but a conversation that is not understood
        # measures the fallback and handoff instead of answers.
        print(f"[{name}] 预热中有未回复的消息：{result['warmup']['problems']}", flush=True)
    result["steps"] = []
    if step_duration > 0:
        for level in steps:
            if level >= users:
                continue
            print(f"[{name}] 阶梯：{level} 个用户 {step_duration:.0f} 秒……", flush=True)
            result["steps"].append(
                run_locust(
                    settings,
                    base_url,
                    level,
                    step_duration,
                    spawn_rate,
                    out_dir,
                    f"{name}-u{level}",
                    pids,
                )
            )
            time.sleep(PAUSE_BETWEEN_RUNS_S)
    print(f"[{name}] 主测试：{users} 个用户 {duration:.0f} 秒……", flush=True)
    result["main"] = run_locust(
        settings, base_url, users, duration, spawn_rate, out_dir, f"{name}-u{users}", pids
    )
    if not stack.alive():
        raise RuntimeError(f"{name}：负载测试过程中有进程退出，结果无效")
    return result


def _run_single(settings: Settings, work: Path, logs: Path, **load: Any) -> Dict[str, Any]:
    from bot.evaluation.report import start_stack

    print("单进程部署：启动 Rasa、动作服务器、网页服务器……", flush=True)
    stack, started = start_stack(settings, work / "single", log_dir=logs / "single")
    try:
        return _exercise(
            settings, "single", stack, stack.settings.rasa_url, started=started, **load
        )
    finally:
        stack.stop()


def _run_scaled(settings: Settings, work: Path, logs: Path, **load: Any) -> Dict[str, Any]:
    from bot.scaled.stack import ScaledPorts, ScaledStack

    # Secrets of its own (the PostgreSQL cluster is new), as the scaled tests do.
    own = replace(settings, var_dir=work / "var")
    stack = ScaledStack(own, work / "scaled", ScaledPorts.free(), log_dir=logs / "scaled")
    print("扩展部署：启动 PostgreSQL、Redis、nginx、2 个 Rasa、2 个动作服务器……", flush=True)
    started = time.monotonic()
    stack.start()
    try:
        return _exercise(settings, "scaled", stack, stack.public_url, started=started, **load)
    finally:
        stack.stop()


def run_load(
    settings: Settings,
    users: int = 200,
    duration: float = 60.0,
    spawn_rate: float = SPAWN_RATE,
    steps: Sequence[int] = STEP_USERS,
    step_duration: float = 20.0,
    p95_budget_ms: float = P95_BUDGET_MS,
    out_dir: Optional[Path] = None,
) -> Dict[str, Any]:
    """Starts the single-process default, loads it, stops it; then the same for the scaled
    deployment; returns both deployments' figures and their comparison."""
    if users < 1 or duration <= 0 or spawn_rate <= 0:
        raise ValueError("--users、--duration 须大于 0")
    if not settings.model_path.is_file():
        raise FileNotFoundError(f"模型不存在：{settings.model_path}，请先运行 make train")
    out_dir = out_dir or settings.var_dir / "bench" / "load"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = out_dir / "logs"
    # PostgreSQL runs as its own user and must reach its data: not under a 0700 directory.
    work = Path(tempfile.mkdtemp(prefix="talent-load-"))
    work.chmod(0o755)
    load = {
        "users": users,
        "duration": duration,
        "spawn_rate": spawn_rate,
        "steps": tuple(steps),
        "step_duration": step_duration,
        "out_dir": out_dir,
    }
    result: Dict[str, Any] = {
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "users": users,
        "duration_s": duration,
        "spawn_rate": spawn_rate,
        "think_time_s": [THINK_MIN_S, THINK_MAX_S],
        "step_users": [s for s in steps if s < users] if step_duration > 0 else [],
        "step_duration_s": step_duration,
        "p95_budget_ms": p95_budget_ms,
        "load_average_before": list(os.getloadavg()),
    }
    try:
        result["single"] = _run_single(settings, work, logs, **load)
        time.sleep(PAUSE_BETWEEN_RUNS_S)
        result["scaled"] = _run_scaled(settings, work, logs, **load)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    single, scaled = result["single"], result["scaled"]
    one, two = single["main"]["throughput_rps"], scaled["main"]["throughput_rps"]
    result["throughput_ratio"] = two / one if one else None
    result["equal_p95"] = compare_at_p95(single, scaled, p95_budget_ms)
    result["sizing"] = sizing(result)
    result["explanation"] = explain(result)
    return result


# --------------------------------------------------------------------------- report


def sizing(result: Dict[str, Any]) -> Dict[str, Any]:
    """Concurrent citizens each deployment serves within the p95 budget, in all and per core:
    its throughput at the budget times the seconds between a real citizen's turns."""
    cores = result.get("cpu_count") or 1
    out: Dict[str, Any] = {"seconds_per_turn": CITIZEN_SECONDS_PER_TURN, "cores": cores}
    budget = next((r for r in result.get("equal_p95", []) if r["name"] == "budget"), None)
    for name in ("single", "scaled"):
        rps = budget.get(f"{name}_rps") if budget else None
        out[name] = {
            "turns_per_s": rps,
            "conversations": rps * CITIZEN_SECONDS_PER_TURN if rps else None,
            "conversations_per_core": rps * CITIZEN_SECONDS_PER_TURN / cores if rps else None,
        }
    return out


def _group(cpu: Dict[str, Any], group: str, key: str = "groups") -> float:
    return float((cpu.get(key) or {}).get(group, 0.0))


def explain(result: Dict[str, Any]) -> List[str]:
    """Why the scaled/single ratio is what it is, from the CPU measured in the two main runs."""
    cores = result.get("cpu_count") or 0
    ratio = result.get("throughput_ratio")
    one = result["single"]["main"].get("cpu") or {}
    two = result["scaled"]["main"].get("cpu") or {}
    lines: List[str] = []
    if one:
        lines.append(
            f"单进程：Rasa 用 {_group(one, 'rasa'):.2f} 核（单个 Python 事件循环，最多 1 核），"
            f"动作服务器 {_group(one, 'actions'):.2f}，网页服务器 {_group(one, 'web'):.2f}；"
            f"整机忙 {one['machine_busy_cores']:.2f}/{cores} 核，其中 Locust "
            f"{one['locust_cores']:.2f}、其他进程 {one['other_cores']:.2f}。"
        )
    if two:
        replicas = " + ".join(
            f"{v:.2f}" for k, v in sorted(two["services"].items()) if service_group(k) == "rasa"
        )
        lines.append(
            f"扩展：Rasa 副本 {replicas} 核，PostgreSQL {_group(two, 'postgres'):.2f}，"
            f"动作服务器 {_group(two, 'actions'):.2f}，nginx {_group(two, 'nginx'):.2f}，"
            f"Redis {_group(two, 'redis'):.2f}，网页服务器 {_group(two, 'web'):.2f}；"
            f"整机忙 {two['machine_busy_cores']:.2f}/{cores} 核，其中 Locust "
            f"{two['locust_cores']:.2f}、其他进程 {two['other_cores']:.2f}。"
        )
    ms_one, ms_two = one.get("server_cpu_ms_per_turn"), two.get("server_cpu_ms_per_turn")
    rasa_one = _group(one, "rasa", "cpu_ms_per_turn") if one else 0.0
    if ms_one and ms_two and rasa_one and cores:
        per_turn = two.get("cpu_ms_per_turn") or {}
        proxies = per_turn.get("nginx", 0.0) + per_turn.get("redis", 0.0)
        lines.append(
            f"每轮对话的服务器 CPU：单进程 {ms_one:.0f} ms（Rasa {rasa_one:.0f} ms），扩展 "
            f"{ms_two:.0f} ms（Rasa {per_turn.get('rasa', 0.0):.0f} ms，PostgreSQL "
            f"{per_turn.get('postgres', 0.0):.0f} ms，nginx 与 Redis {proxies:.0f} ms）。"
        )

        def ceilings(other: bool) -> Tuple[float, float]:
            # CPU-bound throughput: the cores left to the servers over their CPU per turn;
            # the single deployment's Rasa, one event loop, cannot use more than one core.
            left_one = cores - one["locust_cores"] - (one["other_cores"] if other else 0.0)
            left_two = cores - two["locust_cores"] - (two["other_cores"] if other else 0.0)
            single = min(1000.0 / rasa_one, max(left_one, 0.0) * 1000.0 / ms_one)
            return single, max(left_two, 0.0) * 1000.0 / ms_two

        one_cap, two_cap = ceilings(other=True)
        lines.append(
            f"CPU 上限：单进程约 {one_cap:.0f} 轮/秒（Rasa 一个事件循环最多 1 核，"
            f"即 {1000.0 / rasa_one:.0f} 轮/秒，且不超过本机剩给它的核），扩展约 {two_cap:.0f} "
            f"轮/秒（剩给服务器的核 ÷ 每轮 {ms_two:.0f} ms），预计比值 {two_cap / one_cap:.2f}×"
            + (f"，实测 {ratio:.2f}×。" if ratio is not None else "。")
        )
        noisy = [
            (title, cpu["other_cores"])
            for title, cpu in (("单进程", one), ("扩展", two))
            if cpu["other_cores"] > DISTURBED_CORES
        ]
        if noisy:
            quiet_one, quiet_two = ceilings(other=False)
            lines.append(
                "注意："
                + "；".join(f"{t}主测试期间本机其他进程占用 {c:.2f} 核" for t, c in noisy)
                + f"（超过 {DISTURBED_CORES} 核），受影响的部署分到的 CPU 少了，比值因此失真；"
                f"本机空闲时按同样的每轮 CPU 预计 {quiet_two / quiet_one:.2f}×。请在空闲时重跑。"
            )
    if one and two:
        lines.append(
            "原因：单进程部署只有一个 Rasa 事件循环，最多用 1 核"
            f"（实测 {_group(one, 'rasa'):.2f}），另一个核只被动作服务器和网页服务器用了 "
            f"{_group(one, 'actions') + _group(one, 'web'):.2f} 核；扩展部署的两个副本"
            + (
                f"把 {cores} 个核都用上（整机忙 {two['machine_busy_cores']:.2f}）"
                if two["machine_busy_cores"] >= 0.9 * cores
                else f"还没把 {cores} 个核用满（整机忙 {two['machine_busy_cores']:.2f}）"
            )
            + "，但 CPU 密集的 NLU 与对话预测"
            "之外，第二个副本还要与 PostgreSQL、nginx、Redis、动作服务器和 Locust 分这两个核，"
            "所以本机空闲时也到不了 2×。每个副本有自己的核（另留核给 PostgreSQL 与动作服务器）"
            "的服务器上，吞吐随副本数近似线性增长，直到 PostgreSQL 或动作服务器成为瓶颈。"
        )
    return lines


def _ms(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _rps(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _errors(run: Dict[str, Any]) -> str:
    if not run["failures"]:
        return "0"
    kinds = "，".join(f"{k} {n}" for k, n in sorted(run["failure_kinds"].items()) if n)
    return f"{run['failures']}（{kinds}）" if kinds else str(run["failures"])


def _other(run: Dict[str, Any]) -> str:
    """Cores other processes used during the run; flagged above DISTURBED_CORES."""
    other = (run.get("cpu") or {}).get("other_cores")
    if other is None:
        return "n/a"
    return f"{other:.2f}" + (" 受干扰" if other > DISTURBED_CORES else "")


def _bounded(value: Optional[float], how: str) -> str:
    if value is None:
        return "n/a（最轻负载也超出）" if how == "below" else "n/a"
    return ("≥ " if how == "at_least" else "") + _rps(value)


def print_report(result: Dict[str, Any]) -> None:
    from bot.evaluation.report import TARGET_HEADERS, Target, format_table

    rows = []
    for name, title in (("single", "单进程 single"), ("scaled", "扩展 scaled")):
        stack = result[name]
        for run in [*stack["steps"], stack["main"]]:
            main = run is stack["main"]
            rows.append(
                [
                    f"{title}{'（主测试）' if main else ''}",
                    str(run["users"]),
                    f"{run['duration_s']:.0f} s",
                    str(run["requests"]),
                    _rps(run["throughput_rps"]),
                    _ms(run["p50_ms"]),
                    _ms(run["p95_ms"]),
                    _ms(run["p99_ms"]),
                    _errors(run),
                    _other(run),
                ]
            )
    headers = (
        "部署 deployment",
        "用户",
        "时长",
        "请求",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "错误",
        "其他进程 核",
    )
    print("\n" + format_table(headers, rows))

    one, two = result["single"]["main"].get("cpu") or {}, result["scaled"]["main"].get("cpu") or {}
    groups = sorted(set(one.get("groups", {})) | set(two.get("groups", {})))
    cpu_rows = [
        [
            g,
            f"{_group(one, g):.2f}" if g in one.get("groups", {}) else "-",
            f"{_group(one, g, 'cpu_ms_per_turn'):.1f}" if g in one.get("groups", {}) else "-",
            f"{_group(two, g):.2f}" if g in two.get("groups", {}) else "-",
            f"{_group(two, g, 'cpu_ms_per_turn'):.1f}" if g in two.get("groups", {}) else "-",
        ]
        for g in groups
    ]
    for label, key in (("Locust", "locust_cores"), ("其他进程 other", "other_cores")):
        cpu_rows.append([label, f"{one.get(key, 0):.2f}", "", f"{two.get(key, 0):.2f}", ""])
    cpu_rows.append(
        [
            "整机 machine",
            f"{one.get('machine_busy_cores', 0):.2f}",
            _ms(one.get("server_cpu_ms_per_turn")),
            f"{two.get('machine_busy_cores', 0):.2f}",
            _ms(two.get("server_cpu_ms_per_turn")),
        ]
    )
    print(
        f"\n主测试 CPU（{result['cpu_count']} 核；核 = 窗口内平均占用，ms/轮 = 每个答出的轮次）\n"
        + format_table(
            ("进程 process", "单进程 核", "ms/轮", "扩展 核", "ms/轮"),
            cpu_rows,
        )
    )

    equal_rows = [
        [
            ("p95 预算 budget " if r["name"] == "budget" else "两者主测试较低 p95 ")
            + f"{r['p95_ms']:.0f} ms",
            _bounded(r["single_rps"], r["single_how"]),
            _bounded(r["scaled_rps"], r["scaled_how"]),
            "n/a"
            if r["ratio"] is None
            else {"at_least": "≥ ", "at_most": "≤ ", "unknown": "~ "}.get(r["ratio_how"], "")
            + f"{r['ratio']:.2f}×",
        ]
        for r in result["equal_p95"]
    ]
    print(
        "\n同 p95 下的吞吐（阶梯测试插值）\n"
        + format_table(("p95", "单进程 req/s", "扩展 req/s", "扩展/单进程"), equal_rows)
    )

    size = result["sizing"]
    size_rows = [
        [
            title,
            _rps(size[name]["turns_per_s"]),
            _ms(size[name]["conversations"]),
            _ms(size[name]["conversations_per_core"]),
        ]
        for name, title in (("single", "单进程 single"), ("scaled", "扩展 scaled"))
    ]
    print(
        f"\n容量估算：p95 ≤ {result['p95_budget_ms']:.0f} ms，真实用户每 "
        f"{size['seconds_per_turn']:.0f} 秒一轮\n"
        + format_table(
            ("部署", "轮/秒", "同时在线对话", f"每核对话（按 {size['cores']} 核）"), size_rows
        )
    )

    budget = next(r for r in result["equal_p95"] if r["name"] == "budget")
    ratio = budget["ratio"]
    targets = [
        Target(
            f"2 副本/1 副本吞吐（同 p95 ≤ {budget['p95_ms']:.0f} ms）",
            "n/a" if ratio is None else f"{ratio:.2f}×",
            f"≥ {TARGET_RATIO}×",
            ratio is not None and ratio >= TARGET_RATIO,
        ),
        Target(
            f"2 副本/1 副本吞吐（{result['users']} 用户）",
            "n/a" if result["throughput_ratio"] is None else f"{result['throughput_ratio']:.2f}×",
            f"≥ {TARGET_RATIO}×",
            (result["throughput_ratio"] or 0) >= TARGET_RATIO,
        ),
        Target(
            f"{result['users']} 用户错误数（单进程 / 扩展）",
            f"{result['single']['main']['failures']} / {result['scaled']['main']['failures']}",
            "0 / 0",
            not result["single"]["main"]["failures"] and not result["scaled"]["main"]["failures"],
        ),
    ]
    print("\n" + format_table(TARGET_HEADERS, [t.row() for t in targets]))
    print("\n说明 explanation：")
    for line in result["explanation"]:
        print(f"- {line}")
    print(flush=True)


def run_load_command(
    settings: Settings, users: int, duration: float, step_duration: float = 20.0
) -> int:
    """``python -m bot load``: runs, prints, writes var/bench/load.json (and a timestamped
    copy); 0 when it ran (whatever the figures), 1 on an error."""
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    out_dir = settings.var_dir / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = run_load(settings, users=users, duration=duration, step_duration=step_duration)
        text = json.dumps(result, ensure_ascii=False, indent=2)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        (out_dir / "load.json").write_text(text, encoding="utf-8")
        (out_dir / f"load-{stamp}.json").write_text(text, encoding="utf-8")
        print_report(result)
        print(
            f"结果：{out_dir / 'load.json'}（副本 load-{stamp}.json；Locust 日志与 CSV 在 "
            f"{out_dir / 'load'}/）",
            flush=True,
        )
        return 0
    except Exception as exc:
        # Any failure is the command's exit code 1; the traceback says where it happened.
        traceback.print_exc()
        print(f"负载测试失败：{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
