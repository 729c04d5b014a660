"""PostgreSQL, Redis and nginx from Debian's packages, run as the project's own instances on
loopback for ``make run-scaled`` and ``make test-scaled`` (docs/deployment.md).

Each becomes a ``bot.runner.Service``: started, checked, stopped and killed like the
product's own processes. PostgreSQL refuses to run as root, so under root its commands run
as Debian's ``postgres`` user (``runuser``) with a data directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from bot.runner import Service

LOOPBACK = "127.0.0.1"


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            "未找到 PostgreSQL（Debian 软件包 postgresql），请运行 scripts/ensure-servers.sh"
        )
    return found[-1]


def _as_postgres(argv: List[str]) -> List[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _chown_to(path: Path, user: str) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for root, _dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


class Postgres:
    """One PostgreSQL cluster: TCP on loopback only, password authentication (SCRAM)."""

    user = "talent"

    def __init__(self, data_dir: Path, port: int, password: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.password = password

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{database}"

    def initialise(self) -> None:
        """initdb once; the data directory then survives restarts of the deployment."""
        if (self.data_dir / "PG_VERSION").is_file():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        password_file = self.data_dir.parent / f".{self.data_dir.name}.pw"
        password_file.write_text(self.password, encoding="utf-8")
        password_file.chmod(0o600)
        _chown_to(self.data_dir, "postgres")
        _chown_to(password_file, "postgres")
        try:
            subprocess.run(
                _as_postgres(
                    [
                        _postgres_bin("initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        self.user,
                        f"--pwfile={password_file}",
                        "--auth=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        finally:
            password_file.unlink(missing_ok=True)

    def service(self) -> Service:
        argv = _as_postgres(
            [
                _postgres_bin("postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-c",
                f"listen_addresses={LOOPBACK}",
                # TCP only: no socket directory to own under /var/run.
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=200",
            ]
        )
        return Service("postgres", argv, "", ready_check=self.is_ready, stop_signal=signal.SIGINT)

    def is_ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url("postgres"), connect_timeout=2).close()
        except psycopg2.Error:
            return False
        return True

    def ensure_databases(self, *names: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self.url("postgres"), connect_timeout=5)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for name in names:
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                    if cursor.fetchone() is None:
                        cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()


class Redis:
    """Redis for Rasa's conversation locks and socket.io's cross-replica messages."""

    def __init__(self, data_dir: Path, port: int, password: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.password = password

    def url(self, db: int) -> str:
        return f"redis://:{self.password}@{LOOPBACK}:{self.port}/{db}"

    def service(self) -> Service:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "redis.conf"
        # The password goes in a file, not on the command line (ps shows arguments).
        config.write_text(
            "\n".join(
                [
                    f"bind {LOOPBACK}",
                    f"port {self.port}",
                    "protected-mode yes",
                    f"dir {self.data_dir}",
                    "appendonly yes",
                    'save ""',
                    "daemonize no",
                    'logfile ""',
                    f"requirepass {self.password}",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        config.chmod(0o600)
        redis = shutil.which("redis-server") or "/usr/bin/redis-server"
        return Service("redis", [redis, str(config)], "", ready_check=self.is_ready)

    def is_ready(self) -> bool:
        import redis

        try:
            return bool(
                redis.Redis(
                    host=LOOPBACK, port=self.port, password=self.password, socket_timeout=2
                ).ping()
            )
        except redis.RedisError:
            return False


NGINX_CONF = """\
# Generated by bot/scaled/servers.py for the scaled deployment on loopback.
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{ worker_connections 2048; }}

http {{
    # No query strings in the log: they can carry conversation ids.
    log_format plain '$remote_addr [$time_local] "$request_method $uri" $status '
                     '$request_time $upstream_addr';
    access_log {prefix}/access.log plain;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    client_max_body_size 1m;
    server_tokens off;

    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    # The client's Host: socket.io accepts only pages of the origin it is reached at.
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

    # REST and WeChat webhooks: any replica (the conversation's state is in PostgreSQL, its
    # lock in Redis). A replica that refuses the connection is skipped.
    upstream rasa {{
{rasa_servers}
    }}
    # socket.io: one client stays on one replica (polling needs it); messages for a user on
    # another replica go through Redis.
    upstream rasa_socketio {{
        ip_hash;
{rasa_servers}
    }}
    upstream actions {{
{action_servers}
    }}
    upstream web {{
        server {loopback}:{web_port};
    }}

    server {{
        listen {loopback}:{public_port};
        location = /nginx-health {{ access_log off; return 200 "ok\\n"; }}
        # Metrics are scraped from each process directly, never through the public entry.
        location = /webhooks/ops/metrics {{ return 404; }}
        location = /metrics {{ return 404; }}
        location /webhooks/ {{
            proxy_pass http://rasa;
            # A message the failed replica never received is sent to the other one.
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
        location /socket.io/ {{
            proxy_pass http://rasa_socketio;
            proxy_http_version 1.1;
            # Setting headers here drops the inherited ones: Host again.
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
        }}
        location / {{
            proxy_pass http://web;
            proxy_http_version 1.1;
            # The console's live stream (server-sent events) must not be buffered.
            proxy_buffering off;
            proxy_read_timeout 3600s;
        }}
    }}

    # Rasa's HTTP API (token required) for the web server's staff messages: loopback only.
    server {{
        listen {loopback}:{api_port};
        location / {{
            proxy_pass http://rasa;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
        }}
    }}

    # Rasa's calls to the action servers.
    server {{
        listen {loopback}:{actions_port};
        location / {{
            proxy_pass http://actions;
            proxy_next_upstream error timeout non_idempotent;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


class Nginx:
    def __init__(
        self,
        prefix: Path,
        public_port: int,
        api_port: int,
        actions_port: int,
        rasa_ports: List[int],
        action_ports: List[int],
        web_port: int,
    ) -> None:
        self.prefix = prefix
        self.ports: Dict[str, int] = {
            "public": public_port,
            "api": api_port,
            "actions": actions_port,
            "web": web_port,
        }
        self.rasa_ports = rasa_ports
        self.action_ports = action_ports

    def config(self) -> str:
        def servers(ports: List[int]) -> str:
            return "\n".join(
                f"        server {LOOPBACK}:{port} max_fails=1 fail_timeout=3s;" for port in ports
            )

        # Workers run as nobody when the master is root; they only need the temp directories.
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        return NGINX_CONF.format(
            prefix=self.prefix,
            user=user,
            loopback=LOOPBACK,
            rasa_servers=servers(self.rasa_ports),
            action_servers=servers(self.action_ports),
            web_port=self.ports["web"],
            public_port=self.ports["public"],
            api_port=self.ports["api"],
            actions_port=self.ports["actions"],
        )

    def service(self) -> Service:
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "tmp" / name).mkdir(parents=True, exist_ok=True)
        _chown_to(self.prefix / "tmp", "nobody")
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.config(), encoding="utf-8")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        argv = [nginx, "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"]
        return Service("nginx", argv, f"http://{LOOPBACK}:{self.ports['public']}/nginx-health")

    @staticmethod
    def check(prefix: Path) -> Optional[str]:
        """``nginx -t`` on the generated configuration: None if valid, else the error."""
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        result = subprocess.run(
            [nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            capture_output=True,
            text=True,
        )
        return None if result.returncode == 0 else result.stderr
