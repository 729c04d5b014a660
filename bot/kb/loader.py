"""Load and validate the knowledge base (one YAML file per entry) and its vocabulary.

Validation collects every problem of every file before failing, so that an editor fixes a
whole batch in one go; each problem names the file and the field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import yaml

from bot.kb.models import CATEGORIES, REGIONS, PolicyEntry, Source
from bot.kb.vocabulary import VOCABULARY_FILE, Vocabulary, parse_vocabulary

ID_RE = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
LIST_FIELDS = ("amounts", "conditions", "materials", "process", "contact", "basis")
REQUIRED_FIELDS = (
    "id",
    "sample",
    "region",
    "title",
    "aliases",
    "category",
    "audience",
    "summary",
    *LIST_FIELDS,
    "source",
    "checked",
)
OPTIONAL_FIELDS = ("notes", "background")
MAX_SUMMARY = 120
MAX_ITEM = 300


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: 字段 {self.field}: {self.reason}"


class KBValidationError(ValueError):
    """The knowledge base has at least one invalid file; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"知识库校验失败（{len(self.problems)} 处问题）：\n{lines}")


class KnowledgeBase:
    """All entries, indexed by id, with the vocabulary of regions and aspects."""

    def __init__(self, entries: Iterable[PolicyEntry], vocabulary: Vocabulary) -> None:
        self.entries: Dict[str, PolicyEntry] = {e.id: e for e in entries}
        self.vocabulary = vocabulary

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[PolicyEntry]:
        return iter(self.entries.values())

    def get(self, entry_id: Optional[str]) -> Optional[PolicyEntry]:
        return self.entries.get(entry_id) if entry_id else None

    def in_region(self, region: str) -> List[PolicyEntry]:
        return [e for e in self if e.region == region]


def _text(value: Any, field: str, rel: str, problems: List[Problem], max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(rel, field, "必须是非空文本"))
        return ""
    if len(value) > max_len:
        problems.append(Problem(rel, field, f"过长（{len(value)} 字，最多 {max_len} 字）"))
    return value.strip()


def _text_list(
    value: Any, field: str, rel: str, problems: List[Problem], *, min_items: int = 0
) -> Tuple[str, ...]:
    if value is None:
        value = []
    if not isinstance(value, list):
        problems.append(Problem(rel, field, "必须是列表（可为空列表 []）"))
        return ()
    items: List[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.append(Problem(rel, f"{field}[{i}]", "必须是非空文本"))
            continue
        if len(item) > MAX_ITEM:
            problems.append(Problem(rel, f"{field}[{i}]", f"过长（最多 {MAX_ITEM} 字）"))
        items.append(item.strip())
    if len(items) < min_items:
        problems.append(Problem(rel, field, f"至少需要 {min_items} 项"))
    return tuple(items)


def parse_entry(data: Any, rel: str, stem: str) -> Tuple[Optional[PolicyEntry], List[Problem]]:
    """Validates one entry's parsed YAML; returns the entry or the problems found."""
    problems: List[Problem] = []
    if not isinstance(data, Mapping):
        return None, [Problem(rel, "(文件)", "顶层必须是键值映射（YAML mapping）")]
    for name in REQUIRED_FIELDS:
        if name not in data:
            problems.append(Problem(rel, name, "缺少必填字段"))
    for name in data:
        if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
            problems.append(Problem(rel, str(name), "未知字段（拼写错误？）"))
    if problems:
        return None, problems

    entry_id = data["id"]
    if not isinstance(entry_id, str) or not ID_RE.match(entry_id):
        problems.append(Problem(rel, "id", "须为小写字母开头的 3–64 位小写字母、数字或下划线"))
    elif entry_id != stem:
        problems.append(Problem(rel, "id", f"须与文件名一致（文件名为 {stem}）"))
    if not isinstance(data["sample"], bool):
        problems.append(Problem(rel, "sample", "须为 true 或 false"))
    if data["region"] not in REGIONS:
        problems.append(Problem(rel, "region", f"须为 {' / '.join(REGIONS)} 之一"))
    title = _text(data["title"], "title", rel, problems, 40)
    aliases = _text_list(data["aliases"], "aliases", rel, problems, min_items=1)
    for i, alias in enumerate(aliases):
        if not 2 <= len(alias) <= 20:
            problems.append(Problem(rel, f"aliases[{i}]", "每个别名须为 2–20 字"))
    if len(set(aliases)) != len(aliases):
        problems.append(Problem(rel, "aliases", "别名有重复"))
    if data["category"] not in CATEGORIES:
        problems.append(Problem(rel, "category", f"须为 {' / '.join(CATEGORIES)} 之一"))
    audience = _text(data["audience"], "audience", rel, problems, MAX_ITEM)
    summary = _text(data["summary"], "summary", rel, problems, MAX_SUMMARY)
    lists = {name: _text_list(data[name], name, rel, problems) for name in LIST_FIELDS}
    for i, doc in enumerate(lists["basis"]):
        if "《" in doc or "》" in doc:
            problems.append(Problem(rel, f"basis[{i}]", "文件名不要带书名号《》"))
    notes = _text_list(data.get("notes"), "notes", rel, problems)
    background = _text_list(data.get("background"), "background", rel, problems)
    # A fact is either something a citizen gets or must do, or background: never both, or
    # the background would lead answers through its twin.
    citizen_facts = {summary, audience, *notes, *(i for name in LIST_FIELDS for i in lists[name])}
    for i, item in enumerate(background):
        if item in citizen_facts:
            problems.append(
                Problem(
                    rel, f"background[{i}]", "该事实同时写在其他字段中：背景事实只写在 background"
                )
            )

    source = data["source"]
    src: Optional[Source] = None
    if not isinstance(source, Mapping):
        problems.append(Problem(rel, "source", "须为包含 document 和 section 的映射"))
    else:
        document = _text(source.get("document"), "source.document", rel, problems, 200)
        section = _text(source.get("section"), "source.section", rel, problems, 200)
        src = Source(document=document, section=section)

    checked = data["checked"]
    if isinstance(checked, str):
        try:
            checked = dt.date.fromisoformat(checked)
        except ValueError:
            pass
    if not isinstance(checked, dt.date) or isinstance(checked, dt.datetime):
        problems.append(Problem(rel, "checked", "须为日期 YYYY-MM-DD"))

    if problems or src is None:
        return None, problems
    return (
        PolicyEntry(
            id=entry_id,
            sample=data["sample"],
            region=data["region"],
            title=title,
            aliases=aliases,
            category=data["category"],
            audience=audience,
            summary=summary,
            source=src,
            checked=checked,
            notes=notes,
            background=background,
            **lists,
        ),
        [],
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping: the second would
    silently replace the first (two `background:` lists, two `spellings` of one word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"字段 {key} 重复", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, rel: str) -> Tuple[Any, Optional[Problem]]:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_UniqueKeyLoader), None
    except UnicodeDecodeError:
        return None, Problem(rel, "(文件)", "不是 UTF-8 编码")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else ""
        problem = getattr(exc, "problem", None) or ""
        detail = f"：{problem}" if problem.startswith("字段") else ""
        return None, Problem(rel, "(文件)", f"YAML 格式错误 {where}{detail}".strip())


def load_kb(path: str | Path) -> KnowledgeBase:
    """Loads every entry under ``path`` and its vocabulary; raises KBValidationError."""
    root = Path(path)
    if not root.is_dir():
        raise KBValidationError([Problem(str(root), "(目录)", "知识库目录不存在")])
    problems: List[Problem] = []

    vocab_path = root / VOCABULARY_FILE
    vocabulary: Optional[Vocabulary] = None
    if not vocab_path.is_file():
        problems.append(Problem(VOCABULARY_FILE, "(文件)", "缺少词表文件"))
    else:
        data, problem = _read_yaml(vocab_path, VOCABULARY_FILE)
        if problem:
            problems.append(problem)
        else:
            vocabulary, vocab_problems = parse_vocabulary(data)
            problems += [Problem(VOCABULARY_FILE, f, r) for f, r in vocab_problems]

    entries: List[PolicyEntry] = []
    seen: Dict[str, str] = {}
    files = sorted(p for p in root.rglob("*.yml") if p.name != VOCABULARY_FILE)
    files += sorted(root.rglob("*.yaml"))
    for file in files:
        rel = str(file.relative_to(root))
        data, problem = _read_yaml(file, rel)
        if problem:
            problems.append(problem)
            continue
        entry, entry_problems = parse_entry(data, rel, file.stem)
        problems += entry_problems
        if entry is None:
            continue
        if entry.id in seen:
            problems.append(Problem(rel, "id", f"与 {seen[entry.id]} 重复"))
            continue
        seen[entry.id] = rel
        entries.append(entry)
    if not files:
        problems.append(Problem(str(root), "(目录)", "没有任何知识库条目"))
    if problems:
        raise KBValidationError(problems)
    assert vocabulary is not None
    return KnowledgeBase(entries, vocabulary)
