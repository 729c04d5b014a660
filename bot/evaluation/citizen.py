"""Citizen-style evaluation sets (``tests/eval/citizen/``): what citizens really write.

Each set is written from the two source papers only, by someone who has not seen the training
data, the knowledge base or the other sets (docs/nlu.md). ``dev.yml`` and ``dev_2.yml`` drive
the work and may be read; the judging sets (``judge_*.yml``) are frozen and scored, never read for
tuning.

An item is a conversation; its last turn is scored by what the citizen should get:
- ``answer``: every group of ``facts`` has one of its strings in the reply;
- ``clarify``: the reply asks which city or answers for both (``facts``: one group per city);
- ``honest``: the reply says the fact is not in the knowledge base (and ``facts``, if given);
- ``out_of_scope``: the reply is not a policy answer.
Every reply of every turn must also contain no figure the knowledge base, the assistant's own
texts or the citizen's messages do not contain: nothing may be invented.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import yaml

from bot.kb.loader import KnowledgeBase
from bot.text.normalize import to_simplified

CITIZEN_DIR = Path("tests/eval/citizen")
DEV_SET = "dev"


def is_dev(name: str) -> bool:
    """Development sets (``dev``, ``dev_2``…) may be read; every other set judges."""
    return name == DEV_SET or name.startswith(f"{DEV_SET}_")


KINDS = ("answer", "clarify", "honest", "out_of_scope")
CLASSES = (
    "long_context",
    "colloquial",
    "dialect",
    "typo",
    "traditional",
    "mixed_language",
    "emoji",
    "two_part",
    "list",
    "comparison",
    "follow_up",
    "city_switch",
    "greeting_mixed",
    "unanswerable",
    "out_of_scope",
)
# What an honest "not in the knowledge base" reply says (bot.kb.answer, domain.yml).
HONEST_MARKERS = (
    "暂未",
    "没有找到",
    "未载明",
    "未列明",
    "没有写明",
    "没有列出",
    "超出了",
    "只提供",
)
# A policy answer names its basis or offers an entry's details.
POLICY_MARKER = "依据："
POLICY_PAYLOADS = ("/ask_policy",)

TARGET_OVERALL = 0.92
TARGET_CLASS = 0.85

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Numbers the assistant writes that are no facts: list numbering, option numbers, queue places.
_NOT_FACTS = re.compile(r"(?m)^\s*\d+[.、]\s*|第\s*\d+\s*位|回复\s*\d+|\d+\s*字")


@dataclass(frozen=True)
class CitizenItem:
    id: str
    cls: str
    turns: Tuple[str, ...]
    expect: str
    facts: Tuple[Tuple[str, ...], ...]


def fold(text: str) -> str:
    """The form replies and facts are compared in: simplified, NFKC, lower case, no spaces."""
    text = unicodedata.normalize("NFKC", to_simplified(text)).lower()
    return "".join(ch for ch in text if not ch.isspace())


def set_path(root: Path, name: str) -> Path:
    return root / CITIZEN_DIR / f"{name}.yml"


def set_names(root: Path) -> List[str]:
    return sorted(p.stem for p in (root / CITIZEN_DIR).glob("*.yml"))


def load_set(path: Path) -> List[CitizenItem]:
    """A set's items, validated: a silently skipped item would inflate the figures."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items: List[CitizenItem] = []
    problems: List[str] = []
    seen: Set[str] = set()
    raw_items = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(raw_items, list) or not raw_items:
        raise ValueError(f"{path}: 须有非空的 messages 列表")
    for i, item in enumerate(raw_items):
        where = f"{path.name}: messages[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where} 须为映射")
            continue
        qid, cls, expect = item.get("id"), item.get("class"), item.get("expect")
        turns = item.get("turns")
        if not isinstance(qid, str) or not qid or qid in seen:
            problems.append(f"{where}: id 缺失或重复")
            continue
        seen.add(qid)
        if cls not in CLASSES:
            problems.append(f"{where} ({qid}): class 须为 {', '.join(CLASSES)} 之一")
        if expect not in KINDS:
            problems.append(f"{where} ({qid}): expect 须为 {', '.join(KINDS)} 之一")
        if (
            not isinstance(turns, list)
            or not turns
            or not all(isinstance(t, str) and t.strip() for t in turns)
        ):
            problems.append(f"{where} ({qid}): turns 须为非空文本列表")
            continue
        facts_raw = item.get("facts") or []
        facts: List[Tuple[str, ...]] = []
        if not isinstance(facts_raw, list):
            problems.append(f"{where} ({qid}): facts 须为列表")
            facts_raw = []
        for group in facts_raw:
            group = [group] if isinstance(group, str) else group
            if (
                not isinstance(group, list)
                or not group
                or not all(isinstance(s, (str, int)) and str(s).strip() for s in group)
            ):
                problems.append(f"{where} ({qid}): facts 的每组须为非空文本列表")
                continue
            facts.append(tuple(str(s) for s in group))
        if expect in ("answer", "clarify") and not facts:
            problems.append(f"{where} ({qid}): expect {expect} 须有 facts")
        items.append(CitizenItem(qid, str(cls), tuple(turns), str(expect), tuple(facts)))
    if problems:
        raise ValueError("评测集有误：\n" + "\n".join(problems))
    return items


def kb_numbers(kb: KnowledgeBase, extra_texts: Iterable[str] = ()) -> Set[str]:
    """Every number the knowledge base (every field of every entry) and the given texts hold."""
    texts: List[str] = list(extra_texts)
    for entry in kb:
        for value in vars(entry).values():
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, tuple):
                texts.extend(v for v in value if isinstance(v, str))
        texts += [entry.source.document, entry.source.section, str(entry.checked)]
    return {n for text in texts for n in _NUMBER.findall(fold(text))}


def invented_numbers(reply: str, allowed: Set[str], said: Sequence[str]) -> List[str]:
    """Figures in a reply that neither the knowledge base nor the citizen's messages hold."""
    # List numbers are recognised by their line starts, before fold() joins the lines.
    text = fold(_NOT_FACTS.sub(" ", unicodedata.normalize("NFKC", reply)))
    own = {n for turn in said for n in _NUMBER.findall(fold(turn))}
    return [n for n in _NUMBER.findall(text) if n not in allowed and n not in own]


def is_policy_answer(replies: Sequence[Dict[str, Any]]) -> bool:
    text = "\n".join(str(r.get("text") or "") for r in replies)
    payloads = [str(b.get("payload") or "") for r in replies for b in r.get("buttons") or []]
    return POLICY_MARKER in text or any(p.startswith(POLICY_PAYLOADS) for p in payloads)


def _facts_missing(item: CitizenItem, got: str) -> List[str]:
    return [" | ".join(group) for group in item.facts if not any(fold(s) in got for s in group)]


def judge(item: CitizenItem, replies: Sequence[Dict[str, Any]]) -> Tuple[bool, str]:
    """Whether the last turn's replies are what the citizen should get, and why not."""
    got = fold("\n".join(str(r.get("text") or "") for r in replies))
    if item.expect == "out_of_scope":
        return (not is_policy_answer(replies), "给出了政策答案")
    missing = _facts_missing(item, got)
    if item.expect == "honest":
        if not any(fold(m) in got for m in HONEST_MARKERS):
            return False, "未说明知识库没有该信息"
        return (not missing, "缺少：" + "；".join(missing))
    return (not missing, "缺少：" + "；".join(missing))


Sender = Callable[[str, str], List[Dict[str, Any]]]


def evaluate_set(
    items: Sequence[CitizenItem],
    send: Sender,
    allowed_numbers: Set[str],
    run_id: str,
    set_name: str,
) -> Dict[str, Any]:
    """Runs each item as a new conversation and scores it; figures overall and per class."""
    results: List[Dict[str, Any]] = []
    invented: List[Dict[str, Any]] = []
    for item in items:
        sender = f"citizen-{run_id}-{set_name}-{item.id}"
        replies: List[Dict[str, Any]] = []
        error: Optional[str] = None
        try:
            for n, turn in enumerate(item.turns):
                replies = send(sender, turn)
                text = "\n".join(str(r.get("text") or "") for r in replies)
                bad = invented_numbers(text, allowed_numbers, item.turns[: n + 1])
                if bad:
                    invented.append({"id": item.id, "turn": turn, "numbers": bad, "got": text})
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        passed, why = (False, error) if error else judge(item, replies)
        results.append(
            {
                "id": item.id,
                "class": item.cls,
                "expect": item.expect,
                "passed": passed,
                "turns": list(item.turns),
                "why": "" if passed else why,
                "got": "\n".join(str(r.get("text") or "") for r in replies)[:300],
            }
        )
    return summarize(results, invented)


def _breakdown(
    results: Sequence[Dict[str, Any]], key: str, values: Sequence[str]
) -> Dict[str, Dict[str, Any]]:
    """Items and accuracy per value of ``key`` (class or kind), in the given order."""
    out: Dict[str, Dict[str, Any]] = {}
    for value in values:
        mine = [r for r in results if r[key] == value]
        if mine:
            out[value] = {
                "items": len(mine),
                "accuracy": sum(r["passed"] for r in mine) / len(mine),
            }
    return out


def summarize(
    results: Sequence[Dict[str, Any]], invented: Sequence[Dict[str, Any]]
) -> Dict[str, Any]:
    return {
        "items": len(results),
        "accuracy": sum(r["passed"] for r in results) / len(results) if results else 0.0,
        "per_class": _breakdown(results, "class", CLASSES),
        "per_kind": _breakdown(results, "expect", KINDS),
        "invented_figures": list(invented),
        "failures": [r for r in results if not r["passed"]],
    }


def assistant_texts(root: Path) -> List[str]:
    """The assistant's own fixed texts (domain responses): their figures are no invention."""
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}
    texts: List[str] = []
    for variants in (domain.get("responses") or {}).values():
        texts += [str(v.get("text") or "") for v in variants or [] if isinstance(v, dict)]
    return texts


def print_set(name: str, figures: Dict[str, Any], show_failures: bool) -> None:
    print(f"\n== {name}: {figures['accuracy']:.3f}（{figures['items']} 条）")
    for cls, v in figures["per_class"].items():
        print(f"   {cls:<15} {v['accuracy']:.3f}  ({v['items']})")
    for kind, v in figures["per_kind"].items():
        print(f"   [{kind}] {v['accuracy']:.3f}  ({v['items']})")
    print(f"   编造的数字 invented figures: {len(figures['invented_figures'])}")
    if show_failures:
        for f in figures["failures"]:
            print(f"- {f['id']} [{f['class']}/{f['expect']}] {' ⟶ '.join(f['turns'])}")
            print(f"    {f['why']}")
            print(f"    得到：{f['got'][:220]!r}")
        for bad in figures["invented_figures"]:
            print(f"- 编造 {bad['id']}: {bad['numbers']} in {bad['got'][:160]!r}")


def run_citizen(settings: Any, names: Sequence[str], url: Optional[str]) -> int:
    """``python -m bot eval-citizen``: scores citizen sets against a running Rasa (``url``) or a
    stack of its own. Failures are listed for the development set only: a judging set's items
    must not guide the work."""
    import json
    import uuid

    from bot.evaluation.report import start_stack
    from bot.kb.service import get_policy_service
    from bot.runner import rest_message

    root = settings.root
    sets = {name: load_set(set_path(root, name)) for name in names}
    allowed = kb_numbers(get_policy_service().kb, assistant_texts(root))
    out_dir = settings.var_dir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    stack = None
    if url is None:
        stack, _ = start_stack(settings, out_dir)
        url = stack.settings.rasa_url
    base = url
    run_id = uuid.uuid4().hex[:8]
    report: Dict[str, Any] = {}
    try:
        for name, items in sets.items():
            report[name] = evaluate_set(
                items, lambda s, t: rest_message(base, s, t), allowed, run_id, name
            )
            print_set(name, report[name], show_failures=is_dev(name))
    finally:
        if stack is not None:
            stack.stop()
    (out_dir / "citizen.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return 0
