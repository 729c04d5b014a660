"""Import of a city's application export (docs/applications.md, docs/contract.md).

Every row and field of both files is validated before anything is written; all problems are
collected (file, line as in the file with the header on line 1, column, reason) and raised
together as ``ImportValidationError``. Valid files are upserted by application number inside the
caller's transaction: a row equal to what is stored is left alone, so a second import of the
same files changes nothing. Nothing is ever deleted. Messages never contain a full name or phone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import (
    APPLICATION_NO_MAX,
    APPLICATION_STATUSES,
    DEPARTMENT_MAX,
    ITEM_MAX,
    NAME_MAX,
    REGION_MAX,
    Application,
    ApplicationEvent,
    beijing_now,
)

APPLICATION_COLUMNS_REQUIRED = (
    "application_no",
    "applicant_name",
    "phone",
    "region",
    "item",
    "status",
    "submitted_at",
    "updated_at",
)
APPLICATION_COLUMNS_OPTIONAL = ("department", "missing_materials", "expected_done_at", "note")
EVENT_COLUMNS_REQUIRED = ("application_no", "occurred_at", "status")
EVENT_COLUMNS_OPTIONAL = ("note",)
# Fields of Application that an import sets (compared to decide "unchanged").
APPLICATION_FIELDS = tuple(c for c in APPLICATION_COLUMNS_REQUIRED if c != "application_no") + (
    APPLICATION_COLUMNS_OPTIONAL
)

APPLICATION_NO_RE = re.compile(rf"^[A-Za-z0-9-]{{6,{APPLICATION_NO_MAX}}}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
# Exported numbers are often grouped: "138 0000 1234" or "138-0000-1234".
PHONE_SEPARATORS_RE = re.compile(r"[\s-]")
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
BEIJING = dt.timezone(dt.timedelta(hours=8))
STATUS_LIST = "、".join(APPLICATION_STATUSES)
DATETIME_HINT = "须为 ISO 8601 日期或日期时间（如 2024-03-01 或 2024-03-01T09:30:00）"
DATE_HINT = "须为 ISO 8601 日期（如 2024-06-30）"
# SQLite allows 999 bound parameters per statement in old builds; stay well below.
CHUNK = 500


@dataclass(frozen=True)
class Problem:
    """One invalid file, row or field. ``line`` counts as an editor does (header = 1)."""

    file: str
    line: Optional[int]
    column: Optional[str]
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" 第 {self.line} 行"
        if self.column:
            where += f" 列 {self.column}"
        return f"{where}：{self.reason}"


class ImportValidationError(ValueError):
    """The export is invalid; ``problems`` lists every problem found. Nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"导入校验失败（{len(self.problems)} 处问题），未写入任何数据：\n{lines}")


@dataclass(frozen=True)
class ImportSummary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    events_inserted: int = 0
    events_unchanged: int = 0
    # Same event (application, time, status) whose note changed (not in the contract); mostly 0.
    events_updated: int = 0

    def __str__(self) -> str:
        text = (
            f"新增 {self.inserted}，更新 {self.updated}，未变 {self.unchanged}，"
            f"时间线新增 {self.events_inserted}"
        )
        if self.events_updated:
            text += f"，时间线备注更新 {self.events_updated}"
        return text


@dataclass
class _Row:
    line: int
    cells: Dict[str, str]


@dataclass
class _ApplicationRow:
    line: int
    application_no: str
    values: Dict[str, Any] = field(default_factory=dict)


@dataclass
class _EventRow:
    line: int
    application_no: str
    occurred_at: dt.datetime
    status: str
    note: Optional[str]


class _Checker:
    """Collects the problems of one file; ``fail`` records one and returns None."""

    def __init__(self, file: str, problems: List[Problem]) -> None:
        self.file = file
        self.problems = problems

    def fail(self, line: Optional[int], column: Optional[str], reason: str) -> None:
        self.problems.append(Problem(self.file, line, column, reason))

    def text(
        self, row: _Row, column: str, *, required: bool, max_len: Optional[int] = None
    ) -> Optional[str]:
        value = row.cells.get(column, "")
        if not value:
            if required:
                self.fail(row.line, column, "不能为空")
            return None
        if max_len is not None and len(value) > max_len:
            # The value is not echoed: it may be a name.
            self.fail(row.line, column, f"过长（{len(value)} 字，最多 {max_len} 字）")
            return None
        return value

    def application_no(self, row: _Row) -> Optional[str]:
        value = self.text(row, "application_no", required=True)
        if value is None:
            return None
        if not APPLICATION_NO_RE.match(value) or not any(c.isdigit() for c in value):
            self.fail(
                row.line,
                "application_no",
                f"须为 6–{APPLICATION_NO_MAX} 位英文字母、数字或“-”，且至少含一位数字，"
                f"当前为 {value!r}",
            )
            return None
        # Citizens type numbers in any case; one stored form keeps lookups simple.
        return value.upper()

    def phone(self, row: _Row) -> Optional[str]:
        value = self.text(row, "phone", required=True)
        if value is None:
            return None
        digits = PHONE_SEPARATORS_RE.sub("", value)
        if not PHONE_RE.match(digits):
            # Never echo the value: it may be a real number with a typo.
            self.fail(
                row.line, "phone", "须为 11 位大陆手机号（1 开头，第二位 3–9，可含空格或“-”分隔）"
            )
            return None
        return digits

    def status(self, row: _Row) -> Optional[str]:
        value = self.text(row, "status", required=True)
        if value is None:
            return None
        if value not in APPLICATION_STATUSES:
            self.fail(row.line, "status", f"须为 {STATUS_LIST} 之一，当前为 {value!r}")
            return None
        return value

    def datetime(self, row: _Row, column: str) -> Optional[dt.datetime]:
        value = self.text(row, column, required=True)
        if value is None:
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            self.fail(row.line, column, f"{DATETIME_HINT}，当前为 {value!r}")
        return parsed

    def date(self, row: _Row, column: str) -> Optional[dt.date]:
        value = row.cells.get(column, "")
        if not value:
            return None
        parsed = parse_date(value)
        if parsed is None:
            self.fail(row.line, column, f"{DATE_HINT}，当前为 {value!r}")
        return parsed


def parse_date(value: str) -> Optional[dt.date]:
    match = DATE_RE.match(value)
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def parse_datetime(value: str) -> Optional[dt.datetime]:
    """ISO 8601 date or datetime (extended format) as naive Beijing time; None if invalid.

    A date means its midnight; a value with an offset (or Z) is converted to Beijing time;
    a value without one is taken as Beijing time already.
    """
    day = parse_date(value)
    if day is not None:
        return dt.datetime(day.year, day.month, day.day)
    match = DATETIME_RE.match(value)
    if not match:
        return None
    year, month, mday, hour, minute, second, fraction, offset = match.groups()
    try:
        parsed = dt.datetime(
            int(year),
            int(month),
            int(mday),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None
    if offset:
        if offset == "Z":
            delta = dt.timedelta(0)
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            if hours > 23 or minutes > 59:
                return None
            delta = sign * dt.timedelta(hours=hours, minutes=minutes)
        parsed = parsed.replace(tzinfo=dt.timezone(delta)).astimezone(BEIJING).replace(tzinfo=None)
    return parsed


def _read_csv(
    path: Path, required: Sequence[str], optional: Sequence[str], check: _Checker
) -> Optional[List[_Row]]:
    """The data rows of ``path`` (known columns only, values stripped); None if unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        check.fail(None, None, f"文件不存在：{path}")
        return None
    except IsADirectoryError:
        check.fail(None, None, f"这是一个目录，不是 CSV 文件：{path}")
        return None
    except OSError as exc:
        check.fail(None, None, f"无法读取文件 {path}：{exc.strerror or exc}")
        return None
    try:
        text = raw.decode("utf-8-sig")  # tolerates the BOM that Excel writes
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        check.fail(line, None, "不是 UTF-8 编码；请在表格软件中另存为“CSV UTF-8”")
        return None

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            check.fail(1, None, "缺少表头行（第 1 行须为列名）")
            return None
        names = [cell.strip().lower() for cell in header]
        known = set(required) | set(optional)
        index: Dict[str, int] = {}
        for position, name in enumerate(names):
            if name in known:
                if name in index:
                    check.fail(1, name, "列名重复")
                index.setdefault(name, position)
        missing = [name for name in required if name not in index]
        for name in missing:
            check.fail(1, name, "缺少必需的列")
        if missing:
            return None

        rows: List[_Row] = []
        last_line = reader.line_num
        for cells in reader:
            line = last_line + 1  # a quoted field may span lines: report where the row starts
            last_line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                check.fail(
                    line,
                    None,
                    f"本行有 {len(cells)} 个字段，表头有 {len(names)} 个（逗号或引号有误？）",
                )
                continue
            rows.append(_Row(line, {name: cells[i].strip() for name, i in index.items()}))
        return rows
    except csv.Error as exc:
        check.fail(reader.line_num or None, None, f"CSV 格式错误：{exc}")
        return None


def _validate_applications(rows: Iterable[_Row], check: _Checker) -> List[_ApplicationRow]:
    result: List[_ApplicationRow] = []
    seen: Dict[str, int] = {}
    for row in rows:
        problems_before = len(check.problems)
        number = check.application_no(row)
        if number is not None:
            if number in seen:
                check.fail(
                    row.line, "application_no", f"受理编号 {number} 与第 {seen[number]} 行重复"
                )
            else:
                seen[number] = row.line
        values: Dict[str, Any] = {
            "applicant_name": check.text(row, "applicant_name", required=True, max_len=NAME_MAX),
            "phone": check.phone(row),
            "region": check.text(row, "region", required=True, max_len=REGION_MAX),
            "item": check.text(row, "item", required=True, max_len=ITEM_MAX),
            "status": check.status(row),
            "submitted_at": check.datetime(row, "submitted_at"),
            "updated_at": check.datetime(row, "updated_at"),
            "department": check.text(row, "department", required=False, max_len=DEPARTMENT_MAX),
            "missing_materials": check.text(row, "missing_materials", required=False),
            "expected_done_at": check.date(row, "expected_done_at"),
            "note": check.text(row, "note", required=False),
        }
        submitted, updated = values["submitted_at"], values["updated_at"]
        if submitted is not None and updated is not None and updated < submitted:
            check.fail(row.line, "updated_at", "不能早于 submitted_at")
        if number is not None and len(check.problems) == problems_before:
            result.append(_ApplicationRow(row.line, number, values))
    return result


def _valid_numbers(rows: Iterable[_Row]) -> Set[str]:
    """Well-formed numbers of the applications file, even of rows with other problems.

    Events are checked against these so that one bad application row does not also make
    every event of that application an error.
    """
    numbers = set()
    for row in rows:
        value = row.cells.get("application_no", "")
        if APPLICATION_NO_RE.match(value) and any(c.isdigit() for c in value):
            numbers.add(value.upper())
    return numbers


def _validate_events(
    rows: Iterable[_Row], check: _Checker, known: Set[str], stored: Set[str]
) -> List[_EventRow]:
    result: List[_EventRow] = []
    seen: Dict[Tuple[str, dt.datetime, str], int] = {}
    for row in rows:
        number = check.application_no(row)
        if number is not None and number not in known and number not in stored:
            check.fail(
                row.line, "application_no", f"受理编号 {number} 在申请文件和数据库中都不存在"
            )
            number = None
        occurred = check.datetime(row, "occurred_at")
        status = check.status(row)
        note = check.text(row, "note", required=False)
        if number is None or occurred is None or status is None:
            continue
        key = (number, occurred, status)
        if key in seen:
            check.fail(row.line, None, f"与第 {seen[key]} 行重复（同一编号、时间和状态）")
            continue
        seen[key] = row.line
        result.append(_EventRow(row.line, number, occurred, status, note))
    return result


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _load_applications(session: Session, numbers: Iterable[str]) -> Dict[str, Application]:
    wanted = sorted(set(numbers))
    found: Dict[str, Application] = {}
    for chunk in _chunks(wanted):
        stmt = select(Application).where(Application.application_no.in_(chunk))
        for app in session.execute(stmt).scalars():
            found[app.application_no] = app
    return found


def import_applications(
    session: Session, applications_csv: Path, events_csv: Optional[Path] = None
) -> ImportSummary:
    """Validates both files completely, then upserts them in ``session`` (flushed, not committed).

    Raises ``ImportValidationError`` with every problem, before any write, if anything is
    invalid. The caller owns the transaction (``session_scope()``), so the import is all or
    nothing.
    """
    applications_csv, events_csv = Path(applications_csv), events_csv and Path(events_csv)
    problems: List[Problem] = []
    app_check = _Checker(applications_csv.name, problems)
    raw_apps = _read_csv(
        applications_csv, APPLICATION_COLUMNS_REQUIRED, APPLICATION_COLUMNS_OPTIONAL, app_check
    )
    app_rows = _validate_applications(raw_apps or [], app_check)

    event_rows: List[_EventRow] = []
    if events_csv is not None:
        event_check = _Checker(events_csv.name, problems)
        raw_events = _read_csv(
            events_csv, EVENT_COLUMNS_REQUIRED, EVENT_COLUMNS_OPTIONAL, event_check
        )
        if raw_events:
            known = _valid_numbers(raw_apps or [])
            asked = {
                r.cells.get("application_no", "").upper()
                for r in raw_events
                if r.cells.get("application_no", "").upper() not in known
            }
            stored = set(_load_applications(session, asked))
            event_rows = _validate_events(raw_events, event_check, known, stored)
    if problems:
        raise ImportValidationError(problems)

    now = beijing_now()
    by_no = _load_applications(
        session, [r.application_no for r in app_rows] + [e.application_no for e in event_rows]
    )
    inserted = updated = unchanged = 0
    for row in app_rows:
        app = by_no.get(row.application_no)
        if app is None:
            app = Application(application_no=row.application_no, imported_at=now, **row.values)
            session.add(app)
            by_no[row.application_no] = app
            inserted += 1
        elif any(getattr(app, name) != value for name, value in row.values.items()):
            for name, value in row.values.items():
                setattr(app, name, value)
            app.imported_at = now
            updated += 1
        else:
            unchanged += 1
    session.flush()  # ids of new applications, for their events

    events_inserted = events_unchanged = events_updated = 0
    if event_rows:
        ids = sorted({by_no[e.application_no].id for e in event_rows})
        existing: Dict[Tuple[int, dt.datetime, str], ApplicationEvent] = {}
        for chunk in _chunks(ids):
            stmt = select(ApplicationEvent).where(ApplicationEvent.application_id.in_(chunk))
            for event in session.execute(stmt).scalars():
                existing[(event.application_id, event.occurred_at, event.status)] = event
        for row in event_rows:
            app_id = by_no[row.application_no].id
            event = existing.get((app_id, row.occurred_at, row.status))
            if event is None:
                session.add(
                    ApplicationEvent(
                        application_id=app_id,
                        occurred_at=row.occurred_at,
                        status=row.status,
                        note=row.note,
                    )
                )
                events_inserted += 1
            elif event.note != row.note:
                event.note = row.note
                events_updated += 1
            else:
                events_unchanged += 1
        session.flush()

    return ImportSummary(
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        events_inserted=events_inserted,
        events_unchanged=events_unchanged,
        events_updated=events_updated,
    )
