"""Benchmark case of the status lookup: ``action_check_application`` with 10,000 applications.

The applications are generated as a back-office export (CSV) and imported with the real
importer, then the action is called the way Rasa calls it: a POST of the tracker to the
action server's webhook. Every call verifies a real pair, so it reads the application and
its timeline, writes an audit row and composes the reply.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import yaml

from bot.applications.importer import (
    APPLICATION_COLUMNS_OPTIONAL,
    APPLICATION_COLUMNS_REQUIRED,
    import_applications,
)
from bot.db.models import APPLICATION_STATUSES
from bot.db.session import session_scope

APPLICATIONS = 10_000
EVENTS_PER_APPLICATION = 4
CALLS = 400
WARMUP_CALLS = 20
TARGET_LOOKUP_MEDIAN_MS = 20.0

ITEMS = (
    ("海宁市", "人才购房补贴", "海宁市人力资源和社会保障局"),
    ("海宁市", "人才公寓申请", "海宁人才交流中心"),
    ("张家港市", "人才贷", "张家港市人才服务示范服务窗口"),
    ("张家港市", "高层次人才子女入学", "张家港市教育局"),
)
HEADER = [*APPLICATION_COLUMNS_REQUIRED, *APPLICATION_COLUMNS_OPTIONAL]


def number(i: int) -> str:
    return f"BM-2026-{i:05d}"


def phone(i: int) -> str:
    return f"139{i:08d}"


def write_export(directory: Path, count: int = APPLICATIONS) -> tuple[Path, Path]:
    """A synthetic export of ``count`` applications and their timelines (fixed seed)."""
    rng = random.Random(20261123)
    directory.mkdir(parents=True, exist_ok=True)
    apps, events = directory / "applications.csv", directory / "application_events.csv"
    start = dt.datetime(2026, 1, 5, 9, 0)
    with apps.open("w", encoding="utf-8", newline="") as fa, events.open(
        "w", encoding="utf-8", newline=""
    ) as fe:
        wa, we = csv.writer(fa), csv.writer(fe)
        wa.writerow(HEADER)
        we.writerow(["application_no", "occurred_at", "status", "note"])
        for i in range(count):
            region, item, department = ITEMS[i % len(ITEMS)]
            submitted = start + dt.timedelta(hours=rng.randrange(0, 24 * 300))
            steps = list(APPLICATION_STATUSES[:EVENTS_PER_APPLICATION])
            if i % 5 == 0:
                steps[-1] = "待补件"
            times = [submitted + dt.timedelta(days=3 * k) for k in range(len(steps))]
            missing = "身份证复印件;劳动合同" if steps[-1] == "待补件" else ""
            wa.writerow(
                [
                    number(i),
                    "测试" + "甲乙丙丁"[i % 4],
                    phone(i),
                    region,
                    item,
                    steps[-1],
                    submitted.isoformat(),
                    times[-1].isoformat(),
                    department,
                    missing,
                    (times[-1] + dt.timedelta(days=20)).date().isoformat(),
                    "",
                ]
            )
            for when, status in zip(times, steps):
                we.writerow([number(i), when.isoformat(), status, "基准测试数据"])
    return apps, events


def _tracker(sender: str, i: int) -> Dict[str, Any]:
    return {
        "sender_id": sender,
        "slots": {"application_no": number(i), "phone_last4": phone(i)[-4:]},
        "latest_message": {"text": phone(i)[-4:], "intent": {"name": "inform_application"}},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "application_status_form",
    }


def measure_lookup(
    database_url: str, action_url: str, root: Path, work_dir: Path
) -> Dict[str, Any]:
    """Imports the synthetic export into ``database_url`` and times the action over HTTP."""
    apps, events = write_export(work_dir / "lookup-export")
    began = time.monotonic()
    with session_scope(database_url) as session:
        summary = import_applications(session, apps, events)
    import_seconds = time.monotonic() - began

    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    rng = random.Random(7)
    latencies: List[float] = []
    errors = 0
    for call in range(WARMUP_CALLS + CALLS):
        i = rng.randrange(APPLICATIONS)
        body = {
            "next_action": "action_check_application",
            # One conversation per call: the audit grows as in production, no lockout.
            "sender_id": f"bench-lookup-{call}",
            "tracker": _tracker(f"bench-lookup-{call}", i),
            "domain": domain,
            "version": "3.6.2",
        }
        request = urllib.request.Request(
            action_url,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                data = json.loads(response.read().decode("utf-8"))
            ok = any("当前状态" in (r.get("text") or "") for r in data.get("responses", []))
        except (OSError, ValueError):
            ok = False
        elapsed = (time.perf_counter() - began) * 1000
        if call < WARMUP_CALLS:
            continue
        if ok:
            latencies.append(elapsed)
        else:
            errors += 1
    values = np.array(latencies) if latencies else None
    return {
        "applications": APPLICATIONS,
        "import": {"seconds": import_seconds, "summary": str(summary)},
        "calls": CALLS,
        "errors": errors,
        "median_ms": float(np.percentile(values, 50)) if values is not None else None,
        "p95_ms": float(np.percentile(values, 95)) if values is not None else None,
    }
