"""Command line: ``python -m bot COMMAND``. Run ``python -m bot --help`` for the list."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import List, Optional

from bot.config import MODEL_NAME, load_settings

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def _kb_check(args: argparse.Namespace) -> int:
    from bot.kb.loader import KBValidationError, load_kb
    from bot.kb.service import kb_path

    path = args.path or str(kb_path())
    try:
        kb = load_kb(path)
    except KBValidationError as exc:
        print(exc, file=sys.stderr)
        return 1
    by_region = {}
    for entry in kb:
        by_region[entry.region] = by_region.get(entry.region, 0) + 1
    summary = "，".join(f"{region} {count} 条" for region, count in sorted(by_region.items()))
    print(f"知识库校验通过：共 {len(kb)} 条（{summary}）")
    return 0


def _rasa(*argv: str) -> int:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.call([sys.executable, "-m", "rasa", *argv], env=env)


def _train(args: argparse.Namespace) -> int:
    if _kb_check(argparse.Namespace(path=None)) != 0:
        return 1
    settings = load_settings()
    return _rasa(
        "train",
        "--fixed-model-name",
        MODEL_NAME,
        "--out",
        str(settings.models_dir),
        # Stories here are short and explicit; augmenting them only slows training.
        "--augmentation",
        "0",
        "--quiet",
    )


def _run(args: argparse.Namespace) -> int:
    from bot.runner import run_forever

    run_forever(load_settings())
    return 0


def _run_scaled(args: argparse.Namespace) -> int:
    from bot.scaled.stack import run_scaled_forever

    run_scaled_forever(load_settings())
    return 0


def _test_conversations(args: argparse.Namespace) -> int:
    from bot.evaluation.conversations import run_conversation_tests

    return run_conversation_tests(load_settings())


def _eval(args: argparse.Namespace) -> int:
    from bot.evaluation.report import run_evaluation

    return run_evaluation(load_settings(), args.citizen)


def _eval_citizen(args: argparse.Namespace) -> int:
    from bot.evaluation.citizen import DEV_SET, run_citizen

    return run_citizen(load_settings(), args.set or [DEV_SET], args.url)


def _bench(args: argparse.Namespace) -> int:
    from bot.evaluation.bench import run_benchmark

    return run_benchmark(load_settings(), duration=args.duration)


def _load(args: argparse.Namespace) -> int:
    from bot.evaluation.load import run_load_command

    return run_load_command(
        load_settings(),
        users=args.users,
        duration=args.duration,
        step_duration=args.step_duration,
    )


def _upgrade(url: Optional[str] = None) -> Optional[str]:
    """Runs the migrations; prints a Chinese message and returns None if the database fails."""
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from bot.db.session import database_url, display_url, upgrade_database

    try:
        return upgrade_database(url)
    except (SQLAlchemyError, ArgumentError, CommandError, OSError) as exc:
        try:
            where = display_url(database_url(url))
        except Exception:  # an unparsable DATABASE_URL is itself the problem reported below
            where = "DATABASE_URL"
        print(f"数据库升级失败（{where}）：{exc}", file=sys.stderr)
        return None


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.db.session import display_url

    url = _upgrade()
    if url is None:
        return 1
    print(f"数据库已升级到最新版本：{display_url(url)}")
    return 0


def _import_applications(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from bot.applications.importer import ImportValidationError, import_applications
    from bot.db.session import session_scope

    url = _upgrade()
    if url is None:
        return 1
    events = Path(args.events) if args.events else None
    try:
        with session_scope(url) as session:
            summary = import_applications(session, Path(args.applications), events)
    except ImportValidationError as exc:
        print(exc, file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        # Rolled back by session_scope: the database is as it was.
        print(f"写入数据库失败，未做任何更改：{exc}", file=sys.stderr)
        return 1
    print(f"导入完成：{summary}")
    return 0


def _create_staff(args: argparse.Namespace) -> int:
    from bot.handoff.staff import StaffDirectory, StaffError

    if not args.password_stdin:
        print("请用 --password-stdin 从标准输入提供密码（不要写在命令行上）", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    url = _upgrade()
    if url is None:
        return 1
    try:
        staff = StaffDirectory(url).create(args.username, password, args.role, args.display_name)
    except StaffError as exc:
        print(f"未创建账号：{exc}", file=sys.stderr)
        return 1
    print(f"已创建账号：{staff.username}（{staff.role}）")
    return 0


def _wechat_menu(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from bot.wechat.menu import MENU_FILE, MenuError, describe, load_menu

    try:
        menu, _ = load_menu(Path(args.file) if args.file else MENU_FILE)
    except MenuError as exc:
        print(f"菜单文件有误：{exc}", file=sys.stderr)
        return 1
    print("\n".join(describe(menu)))
    if args.dry_run:
        print("菜单文件校验通过（--dry-run：未提交给微信）。")
        return 0
    return asyncio.run(_create_menu(menu))


async def _create_menu(menu: dict) -> int:
    from bot.wechat.api import WeChatAPI, WeChatAPIError
    from bot.wechat.settings import WeChatConfigError, WeChatSettings
    from bot.wechat.store import WeChatStore

    try:
        settings = WeChatSettings.from_env()
    except WeChatConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not settings.can_push:
        print("请先设置 WECHAT_APPID 与 WECHAT_SECRET（见 docs/wechat.md）", file=sys.stderr)
        return 1
    if _upgrade() is None:  # the access token is shared through the database
        return 1
    api = WeChatAPI(settings, WeChatStore())
    try:
        await api.create_menu(menu)
    except WeChatAPIError as exc:
        print(f"微信拒绝了菜单：{exc.errcode} {exc.errmsg}", file=sys.stderr)
        return 1
    finally:
        await api.close()
    print("自定义菜单已创建，约 5 分钟内在微信中生效（重新关注可立即看到）。")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="人才服务助手命令行")
    sub = parser.add_subparsers(dest="command", required=True)

    kb = sub.add_parser("kb", help="知识库操作")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_sub.add_parser("check", help="校验知识库（policies_kb/）")
    check.add_argument("path", nargs="?", help="知识库目录，默认 KB_PATH 或 policies_kb/")
    check.set_defaults(func=_kb_check)

    sub.add_parser("train", help="校验知识库并训练模型").set_defaults(func=_train)
    sub.add_parser("run", help="启动 Rasa 与动作服务器（前台）").set_defaults(func=_run)
    sub.add_parser(
        "run-scaled", help="启动扩展部署：PostgreSQL、Redis、nginx、多个 Rasa 与动作服务器"
    ).set_defaults(func=_run_scaled)
    sub.add_parser("test-conversations", help="rasa test 对话测试").set_defaults(
        func=_test_conversations
    )
    evaluation = sub.add_parser("eval", help="准确率评测，结果写入 var/eval/")
    evaluation.add_argument(
        "--citizen", action="append", help="只评这些市民口吻评测集（默认全部；可重复）"
    )
    evaluation.set_defaults(func=_eval)
    citizen = sub.add_parser("eval-citizen", help="市民口吻评测集（tests/eval/citizen/）")
    citizen.add_argument("--set", action="append", help="评测集名（默认 dev；可重复）")
    citizen.add_argument("--url", help="已运行的 Rasa 地址；默认自行启动一套服务")
    citizen.set_defaults(func=_eval_citizen)
    bench = sub.add_parser("bench", help="性能基准，结果写入 var/bench/")
    bench.add_argument("--duration", type=float, default=10.0, help="每个并发档位的秒数")
    bench.set_defaults(func=_bench)
    load = sub.add_parser(
        "load",
        help="负载测试（Locust）：单进程部署与扩展部署，结果写入 var/bench/load.json",
    )
    load.add_argument("--users", type=int, default=200, help="主测试的同时对话数")
    load.add_argument("--duration", type=float, default=60.0, help="主测试的秒数")
    load.add_argument(
        "--step-duration",
        type=float,
        default=20.0,
        help="阶梯测试每档的秒数（0 = 不做阶梯测试，也就没有同 p95 的比较）",
    )
    load.set_defaults(func=_load)

    db = sub.add_parser("db", help="应用数据库操作（DATABASE_URL，默认 var/applications.db）")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="执行数据库迁移到最新版本").set_defaults(func=_db_upgrade)

    imp = sub.add_parser(
        "import-applications", help="导入办件导出文件（先执行数据库迁移；有错误则不写入）"
    )
    imp.add_argument("applications", metavar="APPLICATIONS.csv", help="办件 CSV 文件")
    imp.add_argument("--events", metavar="EVENTS.csv", help="办理时间线 CSV 文件（可选）")
    imp.set_defaults(func=_import_applications)

    staff = sub.add_parser("create-staff", help="创建专员或管理员账号（密码从标准输入读取）")
    staff.add_argument("username", metavar="USERNAME")
    staff.add_argument("--role", choices=["specialist", "admin"], required=True)
    staff.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码")
    staff.add_argument("--display-name", help="控制台中显示的姓名，默认同用户名")
    staff.set_defaults(func=_create_staff)

    menu = sub.add_parser("wechat-menu", help="按 config/wechat_menu.yml 创建公众号自定义菜单")
    menu.add_argument("--file", help="菜单文件，默认 config/wechat_menu.yml")
    menu.add_argument("--dry-run", action="store_true", help="只校验菜单文件，不提交给微信")
    menu.set_defaults(func=_wechat_menu)
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
