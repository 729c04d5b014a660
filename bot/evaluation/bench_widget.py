"""Benchmark case of the web widget: how long a citizen waits, in the browser, for an answer.

Real Chromium (Debian's, driven by Playwright) opens the chat page ``/chat`` of the web server
and asks questions from the knowledge base one after the other, in one conversation. What is
measured, in the page with ``performance.now()``: from the moment the Enter key goes down in
the composer (a keydown listener in the capture phase, before the widget sends) to the moment
the first element of the bot's answer (``.msg.bot``) is added to the message list (a
MutationObserver). That covers the widget's send, the web server's socket.io relay, Rasa (NLU,
dialogue, the custom action and its knowledge base lookup), the way back and React rendering
the answer into the DOM; it does not include painting the frame that shows it (one frame,
about 16 ms at 60 Hz). The first question is asked once more beforehand and not counted
(the first answer of a new conversation also starts its session).
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import numpy as np

from bot.evaluation.chromium import chromium

QUESTIONS = (
    "张家港人才贷最多能贷多少",
    "海宁人才公寓怎么申请",
    "海宁的人才绿卡是啥？",
    "张家港的智汇港城人才工程是啥",
    "海宁给人才安排体检吗？",
)
WARMUP_ROUNDS = 1
TARGET_MEDIAN_MS = 500.0
ANSWER_TIMEOUT_MS = 15000
# Later parts of an answer arrive right after the first; the next question waits for them.
SETTLE_MS = 300

# Installed in the page once the chat is there: Enter in the composer starts a measurement,
# the first bot message added to the list ends it.
INSTRUMENT = """() => {
  const bench = { pressed: null, times: [] };
  window.__widgetBench = bench;
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && event.target.matches("textarea")) {
      bench.pressed = performance.now();
    }
  }, true);
  const isAnswer = (node) => node.nodeType === 1
    && (node.matches(".msg.bot") || node.querySelector(".msg.bot") !== null);
  new MutationObserver((records) => {
    if (bench.pressed === null) return;
    const now = performance.now();
    if (records.some((r) => Array.from(r.addedNodes).some(isAnswer))) {
      bench.times.push(now - bench.pressed);
      bench.pressed = null;
    }
  }).observe(document.querySelector(".MessageList"), { childList: true, subtree: true });
}"""


def _summary(values: List[float]) -> Dict[str, Any]:
    array = np.array(values)
    return {
        "median_ms": float(np.percentile(array, 50)),
        "p95_ms": float(np.percentile(array, 95)),
        "max_ms": float(array.max()),
        "min_ms": float(array.min()),
    }


async def _measure(web_url: str, rounds: int) -> Dict[str, Any]:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{web_url.rstrip('/')}/chat")
        composer = page.locator(".Composer textarea")
        await composer.wait_for(state="visible", timeout=10000)
        await page.locator(".MessageList .msg.bot").first.wait_for(timeout=10000)
        await page.evaluate(INSTRUMENT)
        for i in range(WARMUP_ROUNDS + rounds):
            await composer.fill(QUESTIONS[i % len(QUESTIONS)])
            done = await page.evaluate("window.__widgetBench.times.length")
            await composer.press("Enter")
            await page.wait_for_function(
                "n => window.__widgetBench.times.length > n",
                arg=done,
                timeout=ANSWER_TIMEOUT_MS,
            )
            await page.wait_for_timeout(SETTLE_MS)
        times: List[float] = await page.evaluate("window.__widgetBench.times")
    measured = times[WARMUP_ROUNDS:]
    return {
        "rounds": len(measured),
        "warmup_rounds": WARMUP_ROUNDS,
        **_summary(measured),
        "target_median_ms": TARGET_MEDIAN_MS,
        "measured": "Enter keydown in the composer → first bot answer element in the DOM "
        "(performance.now() in the page, Chromium headless)",
    }


def measure_widget_answers(web_url: str, rounds: int = 20) -> Dict[str, Any]:
    """Median, p95, max and min (ms) of the time from pressing Enter in the widget at
    ``web_url``/chat to the bot's answer appearing in the page, over ``rounds`` questions."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    return asyncio.run(_measure(web_url, rounds))
