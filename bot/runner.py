"""Start and stop the product's processes together (``make run``, tests, eval, bench).

Each process runs in its own session so that stopping is explicit and complete: SIGTERM,
then SIGKILL after a grace period. Ctrl-C stops them all.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional
from urllib.parse import quote

from bot.config import Settings

GRACE_SECONDS = 10


@dataclass
class Service:
    name: str
    argv: List[str]
    ready_url: str
    process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
    log: Optional[IO[bytes]] = None
    extra_env: Dict[str, str] = field(default_factory=dict)
    # For servers that do not speak HTTP (PostgreSQL, Redis): replaces the ready_url check.
    ready_check: Optional[Callable[[], bool]] = None
    # PostgreSQL takes SIGINT (fast shutdown); SIGTERM would wait for every client.
    stop_signal: int = signal.SIGTERM

    def is_ready(self) -> bool:
        return self.ready_check() if self.ready_check is not None else http_ok(self.ready_url)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1" if host in ("", "0.0.0.0") else host, port))
        except OSError:
            return False
        return True


def isolated(settings: Settings, work_dir: Path) -> Settings:
    """The same deployment on free loopback ports with its own tracker database: for tests,
    eval and bench, which must neither disturb nor talk to a running ``make run``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return replace(
        settings,
        rasa_host="127.0.0.1",
        rasa_port=free_port(),
        action_host="127.0.0.1",
        action_port=free_port(),
        web_host="127.0.0.1",
        web_port=free_port(),
        tracker_db=work_dir / "tracker.db",
        database_url=f"sqlite:///{work_dir / 'applications.db'}",
    )


class Stack:
    """The Rasa server and the action server of one deployment."""

    def __init__(
        self,
        settings: Settings,
        log_dir: Optional[Path] = None,
        action_url: Optional[str] = None,
    ) -> None:
        """``action_url``: where Rasa calls the actions, if not straight at the action
        server (tests put a proxy in between)."""
        self.settings = settings
        self.database_was_new = False
        self.log_dir = log_dir
        self.token = settings.rasa_token()
        py = sys.executable
        s = settings
        self.env = {
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_AUTH_TOKEN": self.token,
            "ACTION_SERVER_URL": action_url or f"http://{s.action_host}:{s.action_port}/webhook",
            "TRACKER_DB": str(s.tracker_db),
            "DATABASE_URL": s.database_url,
            # The web server talks to this Rasa (staff messages) and reads this var/.
            "RASA_HOST": s.rasa_host,
            "RASA_PORT": str(s.rasa_port),
            "VAR_DIR": str(s.var_dir),
            "PYTHONPATH": str(s.root),
        }
        self.services = [
            Service(
                "actions",
                [py, "-m", "rasa_sdk", "--actions", "actions", "--port", str(s.action_port)],
                f"http://127.0.0.1:{s.action_port}/health",
                extra_env={"SANIC_HOST": s.action_host},
            ),
            Service(
                "rasa",
                [
                    py,
                    "-m",
                    "bot.rasa_server",
                    "--model",
                    str(s.model_path),
                    "--interface",
                    s.rasa_host,
                    "--port",
                    str(s.rasa_port),
                    "--endpoints",
                    "endpoints.yml",
                    "--credentials",
                    "credentials.yml",
                    "--response-timeout",
                    "30",
                ],
                f"{s.rasa_url}/status?token={self.token}",
            ),
            Service(
                "web",
                [py, "-m", "bot.web"],
                f"{s.web_url}/health",
                extra_env={"WEB_HOST": s.web_host, "WEB_PORT": str(s.web_port)},
            ),
        ]

    def start(self, timeout: float = 180.0) -> None:
        self.settings.var_dir.mkdir(parents=True, exist_ok=True)
        self.settings.tracker_db.parent.mkdir(parents=True, exist_ok=True)
        if not self.settings.model_path.is_file():
            raise SystemExit(f"模型不存在：{self.settings.model_path}，请先运行 make train")
        busy = [
            f"{host}:{port}"
            for host, port in (
                (self.settings.rasa_host, self.settings.rasa_port),
                (self.settings.action_host, self.settings.action_port),
                (self.settings.web_host, self.settings.web_port),
            )
            if not port_is_free(host, port)
        ]
        if busy:
            # Otherwise the readiness check could be answered by whatever holds the port.
            raise RuntimeError(
                f"端口已被占用：{', '.join(busy)}（可用 RASA_PORT / ACTION_PORT / WEB_PORT 更换）"
            )
        # Migrations run once here, before any process uses the database.
        from bot.db.session import prepare_database

        self.database_was_new = prepare_database(self.settings.database_url)
        for service in self.services:
            self._launch(service)
        self._wait_ready(self.services, timeout)

    def _launch(self, service: Service) -> None:
        stdout = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            if service.log is None or service.log.closed:
                service.log = open(self.log_dir / f"{service.name}.log", "ab")
            stdout = service.log
        service.process = subprocess.Popen(
            service.argv,
            cwd=self.settings.root,
            env={**self.env, **service.extra_env},
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            start_new_session=True,
        )

    def _wait_ready(self, services: List[Service], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for service in services:
            while not (service.is_ready() and service.process.poll() is None):
                if service.process is not None and service.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(
                        f"{service.name} 启动失败（退出码 {service.process.returncode}）"
                    )
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"{service.name} 在 {timeout:.0f} 秒内未就绪")
                time.sleep(0.5)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def stop_service(self, name: str) -> None:
        """Stops one process (SIGTERM, then SIGKILL): what an operator's restart does."""
        proc = self.service(name).process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, self.service(name).stop_signal)
            proc.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass

    def start_service(self, name: str, timeout: float = 180.0) -> None:
        service = self.service(name)
        self._launch(service)
        self._wait_ready([service], timeout)

    def stop(self) -> None:
        for service in reversed(self.services):
            proc = service.process
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, service.stop_signal)
            except ProcessLookupError:
                continue
        for service in reversed(self.services):
            proc = service.process
            if proc is None:
                continue
            try:
                proc.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            if service.log is not None:
                service.log.close()

    def alive(self) -> bool:
        return all(s.process is not None and s.process.poll() is None for s in self.services)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rest_message(base_url: str, sender: str, text: str, timeout: float = 30.0) -> List[dict]:
    """Sends one message over the REST channel and returns the bot's replies."""
    body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
    request = urllib.request.Request(
        f"{base_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def user_events(base_url: str, token: str, sender: str, timeout: float = 30.0) -> List[dict]:
    """The user messages of a conversation, from Rasa's HTTP API (tests, bench)."""
    url = f"{base_url}/conversations/{quote(sender, safe='')}/tracker?token={quote(token)}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        tracker = json.loads(response.read().decode("utf-8"))
    return [e for e in tracker["events"] if e["event"] == "user"]


SAMPLE_APPLICATIONS = "samples/applications.csv"
SAMPLE_EVENTS = "samples/application_events.csv"


def import_samples(settings: Settings) -> None:
    """First start of the embedded default: the sample export, so that the status lookup
    can be tried at once (docs/applications.md lists the sample numbers)."""
    from bot.applications.importer import import_applications
    from bot.db.session import session_scope

    with session_scope(settings.database_url) as session:
        summary = import_applications(
            session, settings.root / SAMPLE_APPLICATIONS, settings.root / SAMPLE_EVENTS
        )
    print(f"首次启动：已导入示例办件数据（{summary}）。", flush=True)


def supervise(stack: Stack, starting: str, banner: Callable[[], str]) -> None:
    """Starts ``stack`` (importing the samples into a new database), prints ``banner()``,
    and keeps it running until Ctrl-C or SIGTERM, or until one of its processes exits;
    then stops every process."""
    stopping = False

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        print(starting, flush=True)
        stack.start()
        if stack.database_was_new:
            import_samples(stack.settings)
        print(banner(), flush=True)
        while stack.alive():
            time.sleep(1)
        print("有进程意外退出，正在停止其余进程。", file=sys.stderr, flush=True)
        raise SystemExit(1)
    except KeyboardInterrupt:
        stopping = True
    finally:
        if stopping:
            print("\n正在停止……", flush=True)
        stack.stop()


def run_forever(settings: Settings) -> None:
    """``make run``: start everything, print the addresses, stop cleanly on Ctrl-C."""
    supervise(
        Stack(settings),
        "正在启动 Rasa 与动作服务器……",
        lambda: (
            "\n人才服务助手已启动：\n"
            f"  Rasa 服务器（REST 渠道）：{settings.rasa_url}/webhooks/rest/webhook\n"
            f"  Rasa HTTP API（需令牌，见 var/secrets/ 或 RASA_AUTH_TOKEN）：{settings.rasa_url}\n"
            f"  动作服务器（仅本机）：{settings.action_url}\n"
            f"  专员工作台：{settings.web_url}/console"
            "（账号：.venv/bin/python -m bot create-staff 用户名 --role admin --password-stdin）\n"
            "试一试：\n"
            f"  curl -s {settings.rasa_url}/webhooks/rest/webhook "
            "-H 'Content-Type: application/json' "
            '-d \'{"sender":"demo","message":"张家港人才贷最多能贷多少"}\'\n'
            "按 Ctrl-C 停止。\n"
        ),
    )
