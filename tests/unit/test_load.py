"""The load test's arithmetic (bot.evaluation.load): classifying replies, summarising Locust's
figures, throughput at equal p95, CPU accounting, sizing. Locust itself is not imported here:
it patches the whole process with gevent."""

from __future__ import annotations

import csv
import socket
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bot.evaluation.load import (
    CONVERSATIONS,
    CpuSnapshot,
    check_loopback,
    classify_reply,
    compare_at_p95,
    cpu_usage,
    explain,
    failure_kind,
    percentile,
    service_group,
    sizing,
    summarise_locust,
    throughput_at_p95,
)

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    ("status", "error", "body", "kind"),
    [
        (200, None, '[{"recipient_id": "a", "text": "你好"}]', None),
        (200, None, "[]", "empty"),
        (200, None, "<html>", "bad_reply"),
        (200, None, '{"text": "x"}', "bad_reply"),
        (502, None, "Bad Gateway", "5xx"),
        (500, None, "", "5xx"),
        (404, None, "", "4xx"),
        (0, TimeoutError("timed out"), None, "timeout"),
        (0, socket.timeout("timed out"), None, "timeout"),
        (0, ConnectionRefusedError(111, "Connection refused"), None, "connection"),
        (0, None, None, "connection"),
    ],
)
def test_classify_reply(status: int, error: Any, body: Any, kind: Any) -> None:
    assert classify_reply(status, error, body) == kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("CatchResponseError('5xx 502')", "5xx"),
        ("CatchResponseError('timeout Timeout')", "timeout"),
        ("CatchResponseError('empty 200')", "empty"),
        ("5xx 503", "5xx"),
        ("ZeroDivisionError('division by zero')", "other"),
        ("", "other"),
    ],
)
def test_failure_kind(error: str, kind: str) -> None:
    assert failure_kind(error) == kind


# --------------------------------------------------------------------------- summaries


def test_percentile_nearest_rank() -> None:
    histogram = {10: 50, 20: 45, 300: 4, 1000: 1}
    assert percentile(histogram, 0.50) == 10
    assert percentile(histogram, 0.95) == 20
    assert percentile(histogram, 0.96) == 300
    assert percentile(histogram, 0.99) == 300
    assert percentile(histogram, 1.0) == 1000
    assert percentile({}, 0.5) is None


def test_summarise_locust() -> None:
    stats = {
        "requests": 100,
        "failures": 4,
        "start_time": 1000.0,
        "last_request_timestamp": 1012.0,
        "max_ms": 2051.3,
        # JSON turns the histogram's keys into strings.
        "response_times": {"50": 60, "120": 30, "900": 6, "2000": 4},
        "errors": [
            {"error": "CatchResponseError('5xx 502')", "occurrences": 3},
            {"error": "CatchResponseError('5xx 504')", "occurrences": 0},
            {"error": "CatchResponseError('timeout Timeout')", "occurrences": 1},
        ],
        "exceptions": 0,
    }
    figures = summarise_locust(stats)
    assert figures["requests"] == 100
    assert figures["failures"] == 4
    assert figures["failure_kinds"] == {"5xx": 3, "timeout": 1}
    assert figures["window_s"] == pytest.approx(12.0)
    # Answered turns only: 96 in 12 s.
    assert figures["throughput_rps"] == pytest.approx(8.0)
    assert (figures["p50_ms"], figures["p95_ms"], figures["p99_ms"]) == (50, 900, 2000)
    assert figures["max_ms"] == 2051.3


def test_summarise_locust_without_requests() -> None:
    figures = summarise_locust({"requests": 0, "failures": 0, "response_times": {}})
    assert figures["throughput_rps"] == 0.0
    assert figures["p95_ms"] is None


# --------------------------------------------------------------------------- equal p95

# (p95 ms, req/s) at increasing users, like a step test: flat throughput once saturated.
SINGLE = [(300.0, 8.0), (600.0, 15.0), (1100.0, 21.0), (2500.0, 24.0), (7000.0, 25.0)]
SCALED = [(250.0, 8.0), (500.0, 16.0), (800.0, 23.0), (1500.0, 30.0), (5000.0, 31.0)]


def test_throughput_interpolated_between_points() -> None:
    rps, how = throughput_at_p95(SINGLE, 1000.0)
    assert how == "interpolated"
    assert rps == pytest.approx(15.0 + (21.0 - 15.0) * 400 / 500)
    assert throughput_at_p95(SINGLE, 600.0) == (15.0, "interpolated")
    assert throughput_at_p95(SINGLE, 300.0) == (8.0, "interpolated")
    assert throughput_at_p95(SINGLE, 7000.0) == (25.0, "interpolated")


def test_throughput_outside_the_measured_range() -> None:
    assert throughput_at_p95(SINGLE, 100.0) == (None, "below")
    assert throughput_at_p95(SINGLE, 9000.0) == (25.0, "at_least")
    assert throughput_at_p95([], 1000.0) == (None, "below")


def test_throughput_dip_in_p95_is_treated_as_noise() -> None:
    # p95 fell from 600 to 550 ms at more users: the envelope keeps 600 ms, so the target is
    # interpolated on the segment that really crosses it.
    points = [(300.0, 8.0), (600.0, 15.0), (550.0, 18.0), (1200.0, 24.0)]
    rps, how = throughput_at_p95(points, 900.0)
    assert how == "interpolated"
    assert rps == pytest.approx(18.0 + (24.0 - 18.0) * 300 / 600)


def _stack(points: List[tuple]) -> Dict[str, Any]:
    runs = [
        {"users": 10 * (i + 1), "p95_ms": p, "throughput_rps": r} for i, (p, r) in enumerate(points)
    ]
    return {"steps": runs[:-1], "main": runs[-1]}


def test_compare_at_equal_p95() -> None:
    rows = {r["name"]: r for r in compare_at_p95(_stack(SINGLE), _stack(SCALED), 1000.0)}
    budget = rows["budget"]
    assert budget["single_rps"] == pytest.approx(19.8)
    assert budget["scaled_rps"] == pytest.approx(23.0 + 7.0 * 200 / 700)
    assert budget["ratio"] == pytest.approx(budget["scaled_rps"] / budget["single_rps"])
    assert budget["ratio_how"] == "interpolated"
    # The lower main-run p95 (5000 ms): scaled's own last point, single interpolated.
    saturated = rows["saturated"]
    assert saturated["p95_ms"] == 5000.0
    assert saturated["scaled_rps"] == 31.0
    assert saturated["single_rps"] == pytest.approx(24.0 + 1.0 * 2500 / 4500)


def test_compare_marks_bounds() -> None:
    # The scaled stack never got as slow as the budget: its throughput there is a lower bound.
    fast = [(100.0, 10.0), (400.0, 40.0)]
    row = compare_at_p95(_stack(SINGLE), _stack(fast), 1000.0)[0]
    assert (row["scaled_how"], row["ratio_how"]) == ("at_least", "at_least")
    row = compare_at_p95(_stack(fast), _stack(SINGLE), 1000.0)[0]
    assert row["ratio_how"] == "at_most"


# --------------------------------------------------------------------------- CPU, sizing


def test_cpu_usage() -> None:
    before = CpuSnapshot(at=100.0, machine_busy=500.0, services={"rasa1": 10.0, "rasa2": 12.0})
    before.services["postgres"] = 3.0
    before.locust = 1.0
    after = CpuSnapshot(
        at=110.0,
        machine_busy=519.0,
        services={"rasa1": 17.0, "rasa2": 18.0, "postgres": 5.0},
        locust=2.0,
    )
    usage = cpu_usage(before, after, turns=250)
    assert usage["services"] == pytest.approx({"rasa1": 0.7, "rasa2": 0.6, "postgres": 0.2})
    assert usage["groups"] == pytest.approx({"rasa": 1.3, "postgres": 0.2})
    assert usage["servers_cores"] == pytest.approx(1.5)
    assert usage["locust_cores"] == pytest.approx(0.1)
    assert usage["machine_busy_cores"] == pytest.approx(1.9)
    assert usage["other_cores"] == pytest.approx(0.3)
    # 15 CPU seconds over 250 turns.
    assert usage["server_cpu_ms_per_turn"] == pytest.approx(60.0)
    assert usage["cpu_ms_per_turn"]["rasa"] == pytest.approx(52.0)


def test_service_group() -> None:
    assert [service_group(n) for n in ("rasa", "rasa2", "actions1", "web")] == [
        "rasa",
        "rasa",
        "actions",
        "web",
    ]


def _result() -> Dict[str, Any]:
    single_cpu = {
        "machine_busy_cores": 1.3,
        "services": {"rasa": 0.95, "actions": 0.2, "web": 0.03},
        "groups": {"rasa": 0.95, "actions": 0.2, "web": 0.03},
        "servers_cores": 1.18,
        "locust_cores": 0.05,
        "other_cores": 0.07,
        "server_cpu_ms_per_turn": 47.0,
        "cpu_ms_per_turn": {"rasa": 38.0, "actions": 8.0, "web": 1.0},
    }
    scaled_cpu = {
        "machine_busy_cores": 1.95,
        "services": {"rasa1": 0.7, "rasa2": 0.68, "postgres": 0.2, "nginx": 0.05},
        "groups": {"rasa": 1.38, "postgres": 0.2, "nginx": 0.05},
        "servers_cores": 1.63,
        "locust_cores": 0.08,
        "other_cores": 0.24,
        "server_cpu_ms_per_turn": 56.0,
        "cpu_ms_per_turn": {"rasa": 43.0, "postgres": 7.0, "nginx": 2.0},
    }
    single, scaled = _stack(SINGLE), _stack(SCALED)
    single["main"]["cpu"], scaled["main"]["cpu"] = single_cpu, scaled_cpu
    result = {"cpu_count": 2, "single": single, "scaled": scaled, "throughput_ratio": 31 / 25}
    result["equal_p95"] = compare_at_p95(single, scaled, 1000.0)
    return result


def test_sizing_from_the_budget_throughput() -> None:
    size = sizing(_result())
    assert size["single"]["turns_per_s"] == pytest.approx(19.8)
    assert size["single"]["conversations"] == pytest.approx(19.8 * size["seconds_per_turn"])
    assert size["single"]["conversations_per_core"] == pytest.approx(
        size["single"]["conversations"] / 2
    )


def test_explanation_uses_the_measured_cpu() -> None:
    text = "\n".join(explain(_result()))
    assert "0.70 + 0.68" in text  # the replicas' cores
    assert "1.24×" in text  # the measured ratio
    # Ceilings: one Rasa core at 38 ms per turn; (2 - 0.08 - 0.24) cores at 56 ms per turn.
    assert f"{1000 / 38:.0f} 轮/秒" in text
    assert f"{1.68 * 1000 / 56:.0f} 轮/秒" in text


# --------------------------------------------------------------------------- scope


def test_load_goes_to_loopback_only() -> None:
    check_loopback("http://127.0.0.1:8080")
    check_loopback("http://localhost:5005")
    for url in ("http://10.0.0.5:8080", "http://example.org", "http://192.168.1.2"):
        with pytest.raises(ValueError):
            check_loopback(url)


def test_conversations_are_plain_text_and_the_lookup_exists() -> None:
    assert all(turns and all(isinstance(t, str) and t for t in turns) for turns in CONVERSATIONS)
    # The status lookup uses the sample export that the load test imports.
    with open(ROOT / "samples/applications.csv", newline="", encoding="utf-8") as handle:
        phones = {row["application_no"]: row["phone"] for row in csv.DictReader(handle)}
    lookups = [t for turns in CONVERSATIONS for t in turns if "HN-2024-" in t]
    assert lookups
    for text in lookups:
        number = text[text.index("HN-") : text.index("HN-") + len("HN-2024-00103")]
        assert phones[number].endswith(text[text.index("尾号") + 2 : text.index("尾号") + 6])


def test_explanation_flags_other_work_on_the_machine() -> None:
    result = _result()
    assert not any(line.startswith("注意") for line in explain(result))
    result["single"]["main"]["cpu"]["other_cores"] = 1.05
    notes = [line for line in explain(result) if line.startswith("注意")]
    assert len(notes) == 1 and "单进程主测试期间本机其他进程占用 1.05 核" in notes[0]
