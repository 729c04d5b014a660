"""Data layer of the status lookup: models, migrations, the CSV importer, masking, CLI."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from bot.applications import (
    ImportSummary,
    ImportValidationError,
    import_applications,
    mask_application_no,
    mask_name,
    mask_phone,
)
from bot.cli import main
from bot.db import (
    APPLICATION_STATUSES,
    Application,
    ApplicationEvent,
    LookupAudit,
    get_engine,
    session_scope,
    upgrade_database,
)
from bot.db.session import dispose_engines

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APPS = ROOT / "samples" / "applications.csv"
SAMPLE_EVENTS = ROOT / "samples" / "application_events.csv"
HEADER = [
    "application_no",
    "applicant_name",
    "phone",
    "region",
    "item",
    "status",
    "submitted_at",
    "updated_at",
    "department",
    "missing_materials",
    "expected_done_at",
    "note",
]


def read_rows(path: Path) -> List[Dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(
    path: Path,
    rows: Sequence[Dict[str, str]],
    header: Optional[Sequence[str]] = None,
    encoding: str = "utf-8",
) -> Path:
    header = list(header or HEADER)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def good_row(**changes: str) -> Dict[str, str]:
    row = {
        "application_no": "HN-2024-90001",
        "applicant_name": "王测试",
        "phone": "13800009999",
        "region": "海宁市",
        "item": "人才公寓申请",
        "status": "审核中",
        "submitted_at": "2024-05-01T09:00:00",
        "updated_at": "2024-05-03",
        "department": "",
        "missing_materials": "",
        "expected_done_at": "",
        "note": "",
    }
    row.update(changes)
    return row


def run_import(url: str, apps: Path, events: Optional[Path] = None) -> ImportSummary:
    with session_scope(url) as session:
        return import_applications(session, apps, events)


def import_problems(url: str, apps: Path, events: Optional[Path] = None) -> List[str]:
    with pytest.raises(ImportValidationError) as info:
        run_import(url, apps, events)
    return [str(p) for p in info.value.problems]


def counts(url: str) -> Dict[str, int]:
    with session_scope(url) as session:
        return {
            "applications": session.scalar(select(func.count(Application.id))),
            "events": session.scalar(select(func.count(ApplicationEvent.id))),
        }


# --- schema -------------------------------------------------------------------------------


def test_migration_creates_tables_with_pragmas(db_url: str) -> None:
    from alembic.script import ScriptDirectory

    from bot.db.session import alembic_config

    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    engine = get_engine(db_url)
    inspector = inspect(engine)
    assert {"applications", "application_events", "lookup_audit", "alembic_version"} <= set(
        inspector.get_table_names()
    )
    uniques = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("application_events")
    }
    assert ("application_id", "occurred_at", "status") in uniques
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    # Running it again is a no-op.
    upgrade_database(db_url)


def test_models_round_trip(db_url: str) -> None:
    submitted = dt.datetime(2024, 5, 1, 9, 30)
    with session_scope(db_url) as session:
        app = Application(
            application_no="ZJG-2024-1",
            applicant_name="李示例",
            phone="13800000042",
            region="张家港市",
            item="人才贷",
            status="待补件",
            submitted_at=submitted,
            updated_at=submitted + dt.timedelta(days=3),
            missing_materials="银行流水;营业执照复印件",
            expected_done_at=dt.date(2024, 6, 30),
            imported_at=submitted,
        )
        app.events.append(ApplicationEvent(occurred_at=submitted, status="已提交", note="网上提交"))
        session.add(app)
        session.add(
            LookupAudit(
                created_at=submitted,
                conversation_id="c1",
                application_no_masked=mask_application_no("ZJG-2024-1"),
                outcome="found",
            )
        )
    with session_scope(db_url) as session:
        stored = session.execute(select(Application)).scalar_one()
        assert stored.expected_done_at == dt.date(2024, 6, 30)
        assert stored.submitted_at == submitted
        assert stored.missing_materials_list() == ["银行流水", "营业执照复印件"]
        assert [(e.status, e.note) for e in stored.events] == [("已提交", "网上提交")]
        assert "李示例" not in repr(stored) and "13800000042" not in repr(stored)
        audit = session.execute(select(LookupAudit)).scalar_one()
        assert audit.application_no_masked == "ZJG****4-1"
    # Foreign keys are enforced, and an event is unique per (application, time, status).
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(ApplicationEvent(application_id=999, occurred_at=submitted, status="已提交"))
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(
            ApplicationEvent(application_id=stored.id, occurred_at=submitted, status="已提交")
        )


# --- importing the samples ----------------------------------------------------------------


def test_import_samples(db_url: str) -> None:
    summary = run_import(db_url, SAMPLE_APPS, SAMPLE_EVENTS)
    assert summary == ImportSummary(inserted=30, events_inserted=114)
    assert str(summary) == "新增 30，更新 0，未变 0，时间线新增 114"
    with session_scope(db_url) as session:
        apps = session.execute(select(Application)).scalars().all()
        for region in ("海宁市", "张家港市"):
            assert {a.status for a in apps if a.region == region} == set(APPLICATION_STATUSES)
        for app in apps:
            assert app.phone.startswith("1380000"), app
            assert app.application_no == app.application_no.upper()
            events = app.events
            # Timelines agree with the application: start at submission, end at its status.
            assert events[0].status == "已提交" and events[0].occurred_at == app.submitted_at
            assert events[-1].status == app.status and events[-1].occurred_at == app.updated_at
            assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
            if app.status == "待补件":
                assert app.missing_materials_list(), app


def test_second_import_changes_nothing(db_url: str) -> None:
    run_import(db_url, SAMPLE_APPS, SAMPLE_EVENTS)
    with session_scope(db_url) as session:
        before = {a.application_no: a.imported_at for a in session.scalars(select(Application))}
    summary = run_import(db_url, SAMPLE_APPS, SAMPLE_EVENTS)
    assert summary == ImportSummary(unchanged=30, events_unchanged=114)
    with session_scope(db_url) as session:
        after = {a.application_no: a.imported_at for a in session.scalars(select(Application))}
    assert after == before
    assert counts(db_url) == {"applications": 30, "events": 114}


def test_update_detection(db_url: str, tmp_path: Path) -> None:
    run_import(db_url, SAMPLE_APPS, SAMPLE_EVENTS)
    rows = read_rows(SAMPLE_APPS)
    rows[0].update(status="已发放", note="补贴已到账")  # was 已发放 with no note
    rows[1].update(status="已通过", updated_at="2024-04-10T10:00:00")
    rows.append(good_row())
    events = read_rows(SAMPLE_EVENTS)
    events[0]["note"] = "线上提交（更正）"
    events.append(
        {
            "application_no": rows[1]["application_no"],
            "occurred_at": "2024-04-10T10:00:00",
            "status": "已通过",
            "note": "",
        }
    )
    summary = run_import(
        db_url,
        write_csv(tmp_path / "apps.csv", rows),
        write_csv(
            tmp_path / "events.csv", events, ["application_no", "occurred_at", "status", "note"]
        ),
    )
    assert summary == ImportSummary(
        inserted=1,
        updated=2,
        unchanged=28,
        events_inserted=1,
        events_unchanged=113,
        events_updated=1,
    )
    with session_scope(db_url) as session:
        second = session.scalars(
            select(Application).where(Application.application_no == rows[1]["application_no"])
        ).one()
        assert second.status == "已通过" and second.updated_at == dt.datetime(2024, 4, 10, 10)
        assert second.events[-1].status == "已通过" and second.events[-1].note is None


def test_bom_extra_columns_and_column_order(db_url: str, tmp_path: Path) -> None:
    rows = [good_row(internal_id="X1", 经办人="某人")]
    header = ["经办人", *reversed(HEADER), "internal_id"]
    path = write_csv(tmp_path / "bom.csv", rows, header, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert run_import(db_url, path) == ImportSummary(inserted=1)
    with session_scope(db_url) as session:
        app = session.scalars(select(Application)).one()
        assert (app.application_no, app.applicant_name, app.status) == (
            "HN-2024-90001",
            "王测试",
            "审核中",
        )
        assert app.updated_at == dt.datetime(2024, 5, 3)
        assert app.department is None and app.expected_done_at is None


def test_normalisation(db_url: str, tmp_path: Path) -> None:
    rows = [
        good_row(application_no=" hn-2024-00001 ", phone=" 138-0000-1234 "),
        good_row(
            application_no="ZJG2024000002",
            phone="138 0000 5678",
            submitted_at="2024-03-01T01:30:00Z",
            updated_at="2024-03-01 12:00+0800",
            expected_done_at="2024-06-30",
            missing_materials="A;B",
        ),
    ]
    run_import(db_url, write_csv(tmp_path / "a.csv", rows))
    with session_scope(db_url) as session:
        stored = {a.application_no: a for a in session.scalars(select(Application))}
    assert set(stored) == {"HN-2024-00001", "ZJG2024000002"}
    assert stored["HN-2024-00001"].phone == "13800001234"
    second = stored["ZJG2024000002"]
    assert second.phone == "13800005678"
    assert second.submitted_at == dt.datetime(2024, 3, 1, 9, 30)  # UTC -> Beijing time
    assert second.updated_at == dt.datetime(2024, 3, 1, 12, 0)
    assert second.expected_done_at == dt.date(2024, 6, 30)
    assert second.missing_materials == "A;B"


# --- validation ---------------------------------------------------------------------------

BAD_FIELDS = [
    ("application_no", "", "不能为空"),
    ("application_no", "AB-12", "6–32 位"),
    ("application_no", "ABCDEFGH", "至少含一位数字"),
    ("application_no", "HN_2024_001", "6–32 位"),
    ("application_no", "H" * 32 + "1", "6–32 位"),
    ("applicant_name", "", "不能为空"),
    ("applicant_name", "名" * 65, "过长"),
    ("phone", "", "不能为空"),
    ("phone", "12800000001", "11 位大陆手机号"),
    ("phone", "1380000123", "11 位大陆手机号"),
    ("phone", "+8613800001234", "11 位大陆手机号"),
    ("region", "", "不能为空"),
    ("item", "", "不能为空"),
    ("status", "已完成", "之一"),
    ("submitted_at", "2024/05/01", "ISO 8601"),
    ("submitted_at", "2024-02-30", "ISO 8601"),
    ("updated_at", "", "不能为空"),
    ("updated_at", "2024-05-01T25:00", "ISO 8601"),
    ("updated_at", "2024-04-30T23:59:59", "不能早于 submitted_at"),
    ("expected_done_at", "2024-06-31", "ISO 8601 日期"),
    ("expected_done_at", "2024-06-30T10:00", "ISO 8601 日期"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_FIELDS)
def test_bad_field_is_named(
    db_url: str, tmp_path: Path, column: str, value: str, reason: str
) -> None:
    rows = [good_row(application_no="HN-2024-00001"), good_row(**{column: value})]
    problems = import_problems(db_url, write_csv(tmp_path / "apps.csv", rows))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"apps.csv 第 3 行 列 {column}："), problems
    assert reason in problems[0]


def test_every_problem_is_reported_and_personal_data_is_not(db_url: str, tmp_path: Path) -> None:
    rows = [
        good_row(phone="19912345678x", status="完成"),
        good_row(application_no="HN-2024-00002", submitted_at="昨天", region=""),
    ]
    problems = import_problems(db_url, write_csv(tmp_path / "apps.csv", rows))
    assert [p.split("：")[0] for p in problems] == [
        "apps.csv 第 2 行 列 phone",
        "apps.csv 第 2 行 列 status",
        "apps.csv 第 3 行 列 region",
        "apps.csv 第 3 行 列 submitted_at",
    ]
    assert not any("19912345678" in p or "王测试" in p for p in problems)


def test_duplicate_numbers_in_file(db_url: str, tmp_path: Path) -> None:
    rows = [good_row(), good_row(phone="13900001111"), good_row(application_no="hn-2024-90001")]
    problems = import_problems(db_url, write_csv(tmp_path / "apps.csv", rows))
    assert problems == [
        "apps.csv 第 3 行 列 application_no：受理编号 HN-2024-90001 与第 2 行重复",
        "apps.csv 第 4 行 列 application_no：受理编号 HN-2024-90001 与第 2 行重复",
    ]


def test_missing_columns_and_malformed_files(db_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cols.csv", [good_row()], ["application_no", "phone", "note"])
    problems = import_problems(db_url, path)
    assert "cols.csv 第 1 行 列 applicant_name：缺少必需的列" in problems
    assert len(problems) == 6  # every missing required column, each named

    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert import_problems(db_url, empty) == ["empty.csv 第 1 行：缺少表头行（第 1 行须为列名）"]

    gbk = write_csv(tmp_path / "gbk.csv", [good_row()], encoding="gbk")
    assert "不是 UTF-8 编码" in import_problems(db_url, gbk)[0]

    ragged = write_csv(tmp_path / "ragged.csv", [good_row()])
    with ragged.open("a", encoding="utf-8") as handle:
        handle.write("\nHN-2024-90002,只有,三列\n")  # a blank line, then a short row on line 4
    assert import_problems(db_url, ragged) == [
        "ragged.csv 第 4 行：本行有 3 个字段，表头有 12 个（逗号或引号有误？）"
    ]

    missing = tmp_path / "nope.csv"
    assert import_problems(db_url, missing) == [f"nope.csv：文件不存在：{missing}"]
    assert counts(db_url) == {"applications": 0, "events": 0}


def test_header_only_file_imports_nothing(db_url: str, tmp_path: Path) -> None:
    assert run_import(db_url, write_csv(tmp_path / "a.csv", [])) == ImportSummary()


def test_events_validation(db_url: str, tmp_path: Path) -> None:
    run_import(db_url, SAMPLE_APPS)
    apps = write_csv(tmp_path / "apps.csv", [good_row()])
    events = write_csv(
        tmp_path / "events.csv",
        [
            # In the file: fine. Only in the database: fine. Neither: error.
            {"application_no": "HN-2024-90001", "occurred_at": "2024-05-01", "status": "已提交"},
            {"application_no": "hn-2024-00101", "occurred_at": "2024-06-01", "status": "已发放"},
            {"application_no": "HN-2099-00001", "occurred_at": "2024-05-01", "status": "已提交"},
            {"application_no": "HN-2024-90001", "occurred_at": "5月1日", "status": "提交"},
            {
                "application_no": "HN-2024-90001",
                "occurred_at": "2024-05-01T00:00",
                "status": "已提交",
            },
        ],
        ["status", "occurred_at", "application_no"],  # no note column: it is optional
    )
    problems = import_problems(db_url, apps, events)
    assert [p.split("：")[0] for p in problems] == [
        "events.csv 第 4 行 列 application_no",
        "events.csv 第 5 行 列 occurred_at",
        "events.csv 第 5 行 列 status",
        "events.csv 第 6 行",
    ]
    assert "在申请文件和数据库中都不存在" in problems[0]
    assert "与第 2 行重复" in problems[3]


def test_events_only_for_stored_applications(db_url: str, tmp_path: Path) -> None:
    run_import(db_url, SAMPLE_APPS)
    header_only = write_csv(tmp_path / "apps.csv", [])
    summary = run_import(db_url, header_only, SAMPLE_EVENTS)
    assert summary == ImportSummary(events_inserted=114)


def test_nothing_written_on_error(db_url: str, tmp_path: Path) -> None:
    run_import(db_url, SAMPLE_APPS, SAMPLE_EVENTS)
    rows = read_rows(SAMPLE_APPS)
    rows[0]["status"] = "已驳回"  # a valid change...
    rows.append(good_row())  # ...a valid new row...
    rows.append(good_row(application_no="HN-2024-90002", phone="1"))  # ...and one bad row
    extra_event = {
        "application_no": "HN-2024-90001",
        "occurred_at": "2024-05-01",
        "status": "已提交",
    }
    events = [*read_rows(SAMPLE_EVENTS), extra_event]
    with pytest.raises(ImportValidationError):
        run_import(
            db_url,
            write_csv(tmp_path / "apps.csv", rows),
            write_csv(
                tmp_path / "ev.csv", events, ["application_no", "occurred_at", "status", "note"]
            ),
        )
    assert counts(db_url) == {"applications": 30, "events": 114}
    with session_scope(db_url) as session:
        first = session.scalars(
            select(Application).where(Application.application_no == rows[0]["application_no"])
        ).one()
        assert first.status == read_rows(SAMPLE_APPS)[0]["status"]


# --- privacy ------------------------------------------------------------------------------


def test_masking_helpers() -> None:
    assert mask_name("王小明") == "王*明"
    assert mask_name("王明") == "王*"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_name(" 王 ") == "*"
    assert mask_name(None) == "" and mask_name("") == ""
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("138-1234-1234") == "138****1234"
    assert mask_phone("12345") == "*****"
    assert mask_phone(None) == ""
    assert mask_application_no("HN-2024-00101") == "HN-*******101"
    assert mask_application_no("AB1234") == "****34"
    assert mask_application_no("X" * 200) == "XXX" + "*" * 26 + "XXX"
    assert mask_application_no("") == ""


# --- command line -------------------------------------------------------------------------


def run_cli(argv: List[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0)


def test_cli_import_and_exit_codes(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["db", "upgrade"]) == 0
    assert "数据库已升级到最新版本" in capsys.readouterr().out

    argv = ["import-applications", str(SAMPLE_APPS), "--events", str(SAMPLE_EVENTS)]
    assert run_cli(argv) == 0
    assert "新增 30，更新 0，未变 0，时间线新增 114" in capsys.readouterr().out
    assert run_cli(argv) == 0
    assert "新增 0，更新 0，未变 30，时间线新增 0" in capsys.readouterr().out

    bad = write_csv(tmp_path / "bad.csv", [good_row(status="x"), good_row(phone="")])
    assert run_cli(["import-applications", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.csv 第 2 行 列 status" in err and "未写入任何数据" in err

    assert run_cli(["import-applications", str(tmp_path / "missing.csv")]) == 1
    err = capsys.readouterr().err
    assert "文件不存在" in err and "Traceback" not in err
    assert counts(db_url) == {"applications": 30, "events": 114}


def test_cli_fresh_database_is_migrated_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        assert run_cli(["import-applications", str(SAMPLE_APPS)]) == 0
        assert "新增 30" in capsys.readouterr().out
        assert counts(url) == {"applications": 30, "events": 0}
    finally:
        dispose_engines()


def test_cli_bad_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "not a url")
    assert run_cli(["db", "upgrade"]) == 1
    assert "数据库升级失败" in capsys.readouterr().err
