"""bot.kb.loader: the shipped knowledge base loads; bad files are reported precisely."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from bot.kb.loader import KBValidationError, KnowledgeBase, Problem, load_kb
from bot.kb.models import ASPECTS, REGIONS
from bot.kb.vocabulary import VOCABULARY_FILE

KB_DIR = Path(__file__).resolve().parents[2] / "policies_kb"
FOLDERS = {"海宁市": "haining", "张家港市": "zhangjiagang"}
PREFIXES = {"海宁市": "hn_", "张家港市": "zjg_"}

VALID_ENTRY: Dict[str, Any] = {
    "id": "zjg_test_entry",
    "sample": True,
    "region": "张家港市",
    "title": "张家港测试政策",
    "aliases": ["测试政策", "测试补贴"],
    "category": "生活服务",
    "audience": "在张家港工作的测试人才。",
    "summary": "这是一条用于单元测试的条目。",
    "amounts": ["最高1万元。"],
    "conditions": [],
    "materials": [],
    "process": [],
    "contact": [],
    "basis": ["张家港市测试办法"],
    "notes": ["仅供测试。"],
    "source": {"document": "测试论文", "section": "第一节"},
    "checked": dt.date(2026, 11, 23),
}


# --- the shipped knowledge base ------------------------------------------------------------


def _entry_files() -> List[Path]:
    return sorted(p for p in KB_DIR.rglob("*.yml") if p.name != VOCABULARY_FILE)


def test_real_kb_loads_with_entries_of_both_cities(kb: KnowledgeBase) -> None:
    assert len(kb) > 40
    per_region = Counter(entry.region for entry in kb)
    assert set(per_region) == set(REGIONS)
    assert all(count >= 10 for count in per_region.values()), per_region
    assert len(kb.in_region("海宁市")) == per_region["海宁市"]


def test_real_kb_has_one_entry_per_file_with_unique_ids(kb: KnowledgeBase) -> None:
    files = _entry_files()
    assert len(files) == len(kb)
    assert {p.stem for p in files} == set(kb.entries)


def test_real_kb_files_sit_in_their_city_folder_with_the_city_prefix(kb: KnowledgeBase) -> None:
    for path in _entry_files():
        entry = kb.get(path.stem)
        assert entry is not None
        assert path.parent.name == FOLDERS[entry.region], path
        assert entry.id.startswith(PREFIXES[entry.region]), entry.id


def test_every_real_entry_has_a_basis_or_a_source(kb: KnowledgeBase) -> None:
    for entry in kb:
        assert entry.basis or (entry.source.document and entry.source.section), entry.id
        for doc in entry.basis:
            assert "《" not in doc and "》" not in doc, entry.id


def test_real_entries_are_well_formed(kb: KnowledgeBase) -> None:
    for entry in kb:
        assert entry.title and entry.summary and entry.audience, entry.id
        assert entry.aliases, entry.id
        assert len(set(entry.aliases)) == len(entry.aliases), entry.id
        assert all(2 <= len(alias) <= 20 for alias in entry.aliases), entry.id
        assert entry.checked <= dt.date.today(), entry.id
        # Every aspect can be asked about.
        for aspect in ASPECTS:
            assert isinstance(entry.aspect_items(aspect), tuple)


def test_real_vocabulary(kb: KnowledgeBase) -> None:
    vocab = kb.vocabulary
    assert {region.name for region in vocab.regions} == set(REGIONS)
    assert set(vocab.aspect_triggers) == set(ASPECTS)
    assert "上海" in vocab.other_places
    assert vocab.region("张家港市") is not None
    assert "港城" in vocab.region("张家港市").aliases  # type: ignore[union-attr]
    assert vocab.region("苏州市") is None
    # A covered city is never also an uncovered place.
    covered = {alias for region in vocab.regions for alias in region.aliases}
    assert not covered & set(vocab.other_places)


def test_knowledge_base_get_handles_missing_ids(kb: KnowledgeBase) -> None:
    assert kb.get("zjg_talent_loan") is not None
    assert kb.get("no_such_entry") is None
    assert kb.get(None) is None
    assert kb.get("") is None


# --- validation of bad files -----------------------------------------------------------


@pytest.fixture()
def kb_dir(tmp_path: Path) -> Path:
    """An empty knowledge base with the real vocabulary."""
    root = tmp_path / "kb"
    (root / "zhangjiagang").mkdir(parents=True)
    (root / "haining").mkdir()
    shutil.copy(KB_DIR / VOCABULARY_FILE, root / VOCABULARY_FILE)
    return root


def write_entry(
    root: Path, data: Any, name: str = "zjg_test_entry", folder: str = "zhangjiagang"
) -> str:
    """Writes an entry file; returns its path relative to the KB root, as errors name it."""
    path = root / folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return f"{folder}/{name}.yml"


def entry(**changes: Any) -> Dict[str, Any]:
    data = copy.deepcopy(VALID_ENTRY)
    data.update(changes)
    return data


def problems_of(root: Path) -> List[Problem]:
    with pytest.raises(KBValidationError) as info:
        load_kb(root)
    error = info.value
    # The exception message lists every problem, each naming its file and field.
    for problem in error.problems:
        assert str(problem) in str(error)
    assert f"{len(error.problems)} 处问题" in str(error)
    return error.problems


def assert_problem(problems: List[Problem], file: str, field: str, *words: str) -> Problem:
    matching = [p for p in problems if p.file == file and p.field == field]
    assert matching, f"no problem for {file} / {field} in {[str(p) for p in problems]}"
    problem = matching[0]
    text = str(problem)
    assert file in text and field in text
    for word in words:
        assert word in problem.reason, problem
    return problem


def test_valid_entry_loads(kb_dir: Path) -> None:
    write_entry(kb_dir, entry())
    kb = load_kb(kb_dir)
    loaded = kb.get("zjg_test_entry")
    assert loaded is not None
    assert loaded.aliases == ("测试政策", "测试补贴")
    assert loaded.basis == ("张家港市测试办法",)
    assert loaded.checked == dt.date(2026, 11, 23)
    assert loaded.source.document == "测试论文"
    assert loaded.notes == ("仅供测试。",)


def test_optional_notes_may_be_left_out_and_dates_may_be_quoted(kb_dir: Path) -> None:
    data = entry(checked="2026-11-23")
    del data["notes"]
    write_entry(kb_dir, data)
    loaded = load_kb(kb_dir).get("zjg_test_entry")
    assert loaded is not None
    assert loaded.notes == ()
    assert loaded.checked == dt.date(2026, 11, 23)


@pytest.mark.parametrize("field", ["summary", "region", "basis", "source", "checked", "sample"])
def test_missing_field(kb_dir: Path, field: str) -> None:
    data = entry()
    del data[field]
    rel = write_entry(kb_dir, data)
    assert_problem(problems_of(kb_dir), rel, field, "缺少")


def test_unknown_field(kb_dir: Path) -> None:
    rel = write_entry(kb_dir, entry(titel="拼错的字段"))
    problems = problems_of(kb_dir)
    assert_problem(problems, rel, "titel", "未知字段")


@pytest.mark.parametrize("region", ["苏州市", "张家港", "", None])
def test_wrong_region(kb_dir: Path, region: Any) -> None:
    rel = write_entry(kb_dir, entry(region=region))
    assert_problem(problems_of(kb_dir), rel, "region", "海宁市", "张家港市")


@pytest.mark.parametrize("bad_id", ["Zjg_Test", "zjg-test-entry", "1zjg", "zj", "_zjg", "zjg test"])
def test_bad_id(kb_dir: Path, bad_id: str) -> None:
    # The file is named after the id, so only the id pattern can reject it.
    rel = write_entry(kb_dir, entry(id=bad_id), name=bad_id)
    assert_problem(problems_of(kb_dir), rel, "id", "小写字母")


def test_id_must_be_text(kb_dir: Path) -> None:
    rel = write_entry(kb_dir, entry(id=12345), name="12345")
    assert_problem(problems_of(kb_dir), rel, "id", "小写字母")


def test_id_must_equal_file_name(kb_dir: Path) -> None:
    rel = write_entry(kb_dir, entry(id="zjg_other_name"))
    problem = assert_problem(problems_of(kb_dir), rel, "id", "文件名")
    assert "zjg_test_entry" in problem.reason


@pytest.mark.parametrize("aliases", [[], None, "测试政策", [""], ["测"], ["测试", "测试"]])
def test_bad_aliases(kb_dir: Path, aliases: Any) -> None:
    rel = write_entry(kb_dir, entry(aliases=aliases))
    problems = problems_of(kb_dir)
    assert any(p.file == rel and p.field.startswith("aliases") for p in problems), problems


def test_empty_aliases_reason(kb_dir: Path) -> None:
    rel = write_entry(kb_dir, entry(aliases=[]))
    assert_problem(problems_of(kb_dir), rel, "aliases", "至少")


@pytest.mark.parametrize("doc", ["《张家港市测试办法》", "张家港市《测试》办法", "测试办法》"])
def test_book_title_marks_in_basis(kb_dir: Path, doc: str) -> None:
    rel = write_entry(kb_dir, entry(basis=["另一个文件", doc]))
    assert_problem(problems_of(kb_dir), rel, "basis[1]", "《》")


@pytest.mark.parametrize(
    "checked", ["2026-13-01", "2026/11/23", "昨天", 20261123, "2026-11-23 10:00:00"]
)
def test_bad_date(kb_dir: Path, checked: Any) -> None:
    rel = write_entry(kb_dir, entry(checked=checked))
    assert_problem(problems_of(kb_dir), rel, "checked", "YYYY-MM-DD")


def test_datetime_is_not_a_date(kb_dir: Path) -> None:
    rel = write_entry(kb_dir, entry(checked=dt.datetime(2026, 11, 23, 10, 0)))
    assert_problem(problems_of(kb_dir), rel, "checked")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sample": "yes"}, "sample"),
        ({"category": "其他服务"}, "category"),
        ({"title": ""}, "title"),
        ({"title": "长" * 41}, "title"),
        ({"summary": "长" * 121}, "summary"),
        ({"amounts": "最高1万元"}, "amounts"),
        ({"amounts": ["最高1万元", ""]}, "amounts[1]"),
        ({"conditions": ["长" * 301]}, "conditions[0]"),
        ({"source": "测试论文"}, "source"),
        ({"source": {"document": "测试论文"}}, "source.section"),
    ],
)
def test_other_field_problems(kb_dir: Path, changes: Dict[str, Any], field: str) -> None:
    rel = write_entry(kb_dir, entry(**changes))
    assert_problem(problems_of(kb_dir), rel, field)


def test_yaml_syntax_error(kb_dir: Path) -> None:
    path = kb_dir / "haining" / "hn_broken.yml"
    path.write_text("id: hn_broken\naliases: [人才贷\nregion: 海宁市\n", encoding="utf-8")
    problem = assert_problem(problems_of(kb_dir), "haining/hn_broken.yml", "(文件)", "YAML")
    assert "行" in problem.reason


def test_non_utf8_file(kb_dir: Path) -> None:
    text = yaml.safe_dump(entry(id="hn_gbk_entry", region="海宁市"), allow_unicode=True)
    (kb_dir / "haining" / "hn_gbk_entry.yml").write_bytes(text.encode("gbk"))
    assert_problem(problems_of(kb_dir), "haining/hn_gbk_entry.yml", "(文件)", "UTF-8")


def test_top_level_must_be_a_mapping(kb_dir: Path) -> None:
    rel = write_entry(kb_dir, ["id", "zjg_test_entry"])
    assert_problem(problems_of(kb_dir), rel, "(文件)")


def test_duplicate_id(kb_dir: Path) -> None:
    first = write_entry(kb_dir, entry(), folder="haining")
    second = write_entry(kb_dir, entry())
    problems = problems_of(kb_dir)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.field == "id"
    assert problem.file == second
    assert first in problem.reason and "重复" in problem.reason


def test_every_problem_of_every_file_is_reported_at_once(kb_dir: Path) -> None:
    write_entry(kb_dir, entry())  # a good file among the bad ones
    bad_region = write_entry(kb_dir, entry(id="zjg_bad_region", region="苏州市"), "zjg_bad_region")
    missing = entry(id="zjg_missing")
    del missing["summary"]
    missing_rel = write_entry(kb_dir, missing, "zjg_missing")
    two = write_entry(kb_dir, entry(id="zjg_two", category="x", basis=["《文件》"]), "zjg_two")
    (kb_dir / "haining" / "hn_syntax.yml").write_text("id: [\n", encoding="utf-8")
    problems = problems_of(kb_dir)
    assert_problem(problems, bad_region, "region")
    assert_problem(problems, missing_rel, "summary")
    assert_problem(problems, two, "category")
    assert_problem(problems, two, "basis[0]")
    assert_problem(problems, "haining/hn_syntax.yml", "(文件)")
    assert "zhangjiagang/zjg_test_entry.yml" not in {p.file for p in problems}
    assert len(problems) == 5


def test_missing_or_empty_directory(tmp_path: Path, kb_dir: Path) -> None:
    with pytest.raises(KBValidationError, match="知识库目录不存在"):
        load_kb(tmp_path / "nowhere")
    with pytest.raises(KBValidationError, match="没有任何知识库条目"):
        load_kb(kb_dir)


# --- the vocabulary file ---------------------------------------------------------------


def _vocabulary() -> Dict[str, Any]:
    with (KB_DIR / VOCABULARY_FILE).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def write_vocabulary(root: Path, data: Any) -> None:
    (root / VOCABULARY_FILE).write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


def test_missing_vocabulary(kb_dir: Path) -> None:
    write_entry(kb_dir, entry())
    (kb_dir / VOCABULARY_FILE).unlink()
    assert_problem(problems_of(kb_dir), VOCABULARY_FILE, "(文件)")


def test_vocabulary_syntax_error(kb_dir: Path) -> None:
    write_entry(kb_dir, entry())
    (kb_dir / VOCABULARY_FILE).write_text("regions: [\n", encoding="utf-8")
    assert_problem(problems_of(kb_dir), VOCABULARY_FILE, "(文件)", "YAML")


def test_vocabulary_without_one_city(kb_dir: Path) -> None:
    write_entry(kb_dir, entry())
    data = _vocabulary()
    data["regions"] = [r for r in data["regions"] if r["name"] == "海宁市"]
    write_vocabulary(kb_dir, data)
    assert_problem(problems_of(kb_dir), VOCABULARY_FILE, "regions", "张家港市")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["regions"][0].update(name="苏州市"), "regions[0].name"),
        (lambda d: d["regions"][1].update(aliases=[]), "regions[1].aliases"),
        (lambda d: d["regions"][1].update(office=""), "regions[1].office"),
        (lambda d: d["aspects"].pop("materials"), "aspects.materials"),
        (lambda d: d["aspects"].update(price=["价格"]), "aspects.price"),
        (lambda d: d["aspects"].update(basis=[""]), "aspects.basis"),
        (lambda d: d.update(aspects=["条件"]), "aspects"),
        (lambda d: d.update(stopwords="的"), "stopwords"),
        (lambda d: d.update(other_places=[1, 2]), "other_places"),
        (lambda d: d.update(synonyms=["老婆"]), "synonyms"),
        (lambda d: d["synonyms"].update(配偶=[]), "synonyms.配偶"),
        (lambda d: d["synonyms"].update(家属=["老婆"]), "synonyms.家属"),  # 老婆 is 配偶 already
    ],
)
def test_bad_vocabulary(kb_dir: Path, change: Any, field: str) -> None:
    write_entry(kb_dir, entry())
    data = _vocabulary()
    change(data)
    write_vocabulary(kb_dir, data)
    problems = problems_of(kb_dir)
    assert_problem(problems, VOCABULARY_FILE, field)


def test_vocabulary_must_be_a_mapping(kb_dir: Path) -> None:
    write_entry(kb_dir, entry())
    write_vocabulary(kb_dir, ["海宁市", "张家港市"])
    assert_problem(problems_of(kb_dir), VOCABULARY_FILE, "(文件)")


def test_bad_vocabulary_and_bad_entries_are_reported_together(kb_dir: Path) -> None:
    rel = write_entry(kb_dir, entry(region="苏州市"))
    data = _vocabulary()
    data["aspects"].pop("process")
    write_vocabulary(kb_dir, data)
    problems = problems_of(kb_dir)
    assert_problem(problems, VOCABULARY_FILE, "aspects.process")
    assert_problem(problems, rel, "region")
