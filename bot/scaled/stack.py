"""The scaled deployment on one machine: PostgreSQL, Redis, nginx, N Rasa replicas, N action
servers and the web server (``make run-scaled``; the fault tests of ``make test-scaled``).

nginx is the only public entry: ``/webhooks/*`` and ``/socket.io/`` go to the Rasa replicas,
the rest to the web server. Rasa's HTTP API and the action servers sit behind loopback-only
nginx listeners, so that losing one replica or action server loses no request.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional

from bot.config import Settings, stored_secret
from bot.runner import Service, Stack, free_port, port_is_free, supervise
from bot.scaled.servers import LOOPBACK, Nginx, Postgres, Redis

TRACKER_DB_NAME = "talent_tracker"
APP_DB_NAME = "talent_app"


@dataclass
class ScaledPorts:
    public: int = 8080
    rasa_api: int = 5100
    actions: int = 5150
    web: int = 8000
    postgres: int = 55432
    redis: int = 56379
    rasa: List[int] = field(default_factory=lambda: [5005, 5006])
    action_servers: List[int] = field(default_factory=lambda: [5055, 5056])

    @classmethod
    def free(cls, replicas: int = 2) -> ScaledPorts:
        """Free loopback ports for everything: tests beside a running deployment."""
        return cls(
            public=free_port(),
            rasa_api=free_port(),
            actions=free_port(),
            web=free_port(),
            postgres=free_port(),
            redis=free_port(),
            rasa=[free_port() for _ in range(replicas)],
            action_servers=[free_port() for _ in range(replicas)],
        )

    def all(self) -> List[int]:
        fixed = [self.public, self.rasa_api, self.actions, self.web, self.postgres, self.redis]
        return fixed + self.rasa + self.action_servers


class ScaledStack(Stack):
    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        ports: Optional[ScaledPorts] = None,
        log_dir: Optional[Path] = None,
    ) -> None:
        self.ports = ports or ScaledPorts()
        self.data_dir = data_dir
        var = settings.var_dir
        self.postgres = Postgres(
            data_dir / "postgres",
            self.ports.postgres,
            stored_secret(var, "POSTGRES_PASSWORD", "postgres_password"),
        )
        self.redis = Redis(
            data_dir / "redis",
            self.ports.redis,
            stored_secret(var, "REDIS_PASSWORD", "redis_password"),
        )
        settings = replace(
            settings,
            rasa_host=LOOPBACK,
            rasa_port=self.ports.rasa_api,
            web_host=LOOPBACK,
            web_port=self.ports.web,
            database_url=self.postgres.url(APP_DB_NAME),
        )
        super().__init__(settings, log_dir=log_dir)
        self.env.update(
            {
                "ACTION_SERVER_URL": f"http://{LOOPBACK}:{self.ports.actions}/webhook",
                "DATABASE_URL": self.postgres.url(APP_DB_NAME),
                "TRACKER_STORE_URL": self.postgres.url(TRACKER_DB_NAME),
                "POSTGRES_HOST": LOOPBACK,
                "POSTGRES_PORT": str(self.ports.postgres),
                "POSTGRES_USER": Postgres.user,
                "POSTGRES_PASSWORD": self.postgres.password,
                "TRACKER_DB_NAME": TRACKER_DB_NAME,
                "REDIS_HOST": LOOPBACK,
                "REDIS_PORT": str(self.ports.redis),
                "REDIS_PASSWORD": self.redis.password,
                "REDIS_SOCKETIO_URL": self.redis.url(2),
                # A replica killed while it holds a conversation's lock: the lock expires
                # after this, well before Rasa's 30-second response timeout gives up on a
                # message that waits for it (Rasa's default is 60 s).
                "TICKET_LOCK_LIFETIME": "15",
                # The web server reaches Rasa's API through nginx (either replica).
                "RASA_HOST": LOOPBACK,
                "RASA_PORT": str(self.ports.rasa_api),
            }
        )
        self.nginx = Nginx(
            data_dir / "nginx",
            public_port=self.ports.public,
            api_port=self.ports.rasa_api,
            actions_port=self.ports.actions,
            rasa_ports=self.ports.rasa,
            action_ports=self.ports.action_servers,
            web_port=self.ports.web,
        )
        py = sys.executable
        services: List[Service] = [self.postgres.service(), self.redis.service()]
        for i, port in enumerate(self.ports.action_servers, 1):
            services.append(
                Service(
                    f"actions{i}",
                    [py, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
                    f"http://{LOOPBACK}:{port}/health",
                    extra_env={"SANIC_HOST": LOOPBACK},
                )
            )
        for i, port in enumerate(self.ports.rasa, 1):
            services.append(
                Service(
                    f"rasa{i}",
                    [
                        py,
                        "-m",
                        "bot.rasa_server",
                        "--model",
                        str(settings.model_path),
                        "--interface",
                        LOOPBACK,
                        "--port",
                        str(port),
                        "--endpoints",
                        "config/scaled/endpoints.yml",
                        "--credentials",
                        "config/scaled/credentials.yml",
                        "--response-timeout",
                        "30",
                    ],
                    f"http://{LOOPBACK}:{port}/status?token={self.token}",
                )
            )
        services.append(
            Service(
                "web",
                [py, "-m", "bot.web"],
                f"http://{LOOPBACK}:{self.ports.web}/health",
                extra_env={"WEB_HOST": LOOPBACK, "WEB_PORT": str(self.ports.web)},
            )
        )
        services.append(self.nginx.service())
        self.services = services

    @property
    def public_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.public}"

    def rasa_url(self, replica: int) -> str:
        return f"http://{LOOPBACK}:{self.ports.rasa[replica - 1]}"

    def start(self, timeout: float = 240.0) -> None:
        if not self.settings.model_path.is_file():
            raise SystemExit(f"模型不存在：{self.settings.model_path}，请先运行 make train")
        busy = [str(p) for p in self.ports.all() if not port_is_free(LOOPBACK, p)]
        if busy:
            raise RuntimeError(f"端口已被占用：{', '.join(busy)}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.initialise()
        started = time.monotonic()
        by_name: Dict[str, Service] = {s.name: s for s in self.services}
        for name in ("postgres", "redis"):
            self._launch(by_name[name])
        self._wait_ready([by_name["postgres"], by_name["redis"]], timeout)
        self.postgres.ensure_databases(TRACKER_DB_NAME, APP_DB_NAME)
        # Migrations run on deploy, once, before any process uses the database.
        from bot.db.session import prepare_database

        self.database_was_new = prepare_database(self.settings.database_url)
        rest = [s for s in self.services if s.name not in ("postgres", "redis")]
        for service in rest:
            self._launch(service)
            if service.name.startswith("rasa"):
                # One replica at a time: each creates the tracker tables if missing.
                remaining = timeout - (time.monotonic() - started)
                self._wait_ready([service], max(remaining, 1.0))
        self._wait_ready(rest, max(timeout - (time.monotonic() - started), 1.0))


def run_scaled_forever(settings: Settings) -> None:
    """``make run-scaled``: start everything, print the addresses, stop all on Ctrl-C."""
    stack = ScaledStack(
        settings, settings.var_dir / "scaled", log_dir=settings.var_dir / "scaled" / "logs"
    )
    p = stack.ports

    def banner() -> str:
        return (
            "\n人才服务助手（扩展部署）已启动：\n"
            f"  入口（nginx）：{stack.public_url}/  演示页；/console 专员工作台；"
            "/webhooks/rest/webhook、/webhooks/wechat/webhook、/socket.io/\n"
            f"  Rasa 副本：{', '.join(f'{LOOPBACK}:{port}' for port in p.rasa)}"
            f"（HTTP API 经 nginx {LOOPBACK}:{p.rasa_api}，需令牌）\n"
            f"  动作服务器：{', '.join(str(port) for port in p.action_servers)}"
            f"（经 nginx {LOOPBACK}:{p.actions}）\n"
            f"  PostgreSQL {LOOPBACK}:{p.postgres}、Redis {LOOPBACK}:{p.redis}"
            "（密码见 var/secrets/）\n"
            f"  数据与日志：{stack.data_dir}\n"
            "按 Ctrl-C 停止。\n"
        )

    supervise(
        stack, "正在启动扩展部署（PostgreSQL、Redis、nginx、2 个 Rasa、2 个动作服务器）……", banner
    )
