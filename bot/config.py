"""Settings of the deployment, from environment variables (docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "talent-assistant"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"环境变量 {name} 须为整数，当前为 {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    root: Path
    var_dir: Path
    rasa_host: str
    rasa_port: int
    action_host: str
    action_port: int
    models_dir: Path
    tracker_db: Path
    # SQLAlchemy URL of the applications database (bot.db); SQLite under var/ by default.
    database_url: str
    web_host: str = "0.0.0.0"
    web_port: int = 8000

    @property
    def web_url(self) -> str:
        host = "127.0.0.1" if self.web_host in ("0.0.0.0", "") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def tracker_store_url(self) -> str:
        """Where the console reads transcripts: Rasa's SQL tracker store."""
        return os.environ.get("TRACKER_STORE_URL") or f"sqlite:///{self.tracker_db}"

    def web_secret(self) -> str:
        """Key of the console's CSRF tokens."""
        return stored_secret(self.var_dir, "WEB_SECRET", "web_secret")

    def widget_secret(self) -> str:
        """Key of the web widget's session secrets (an HMAC of the session id): kept apart
        from ``WEB_SECRET`` so that renewing one does not end the other's sessions."""
        return stored_secret(self.var_dir, "WIDGET_SECRET", "widget_secret")

    @property
    def model_path(self) -> Path:
        return self.models_dir / f"{MODEL_NAME}.tar.gz"

    @property
    def rasa_url(self) -> str:
        host = "127.0.0.1" if self.rasa_host in ("0.0.0.0", "") else self.rasa_host
        return f"http://{host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return os.environ.get("ACTION_SERVER_URL") or (
            f"http://{self.action_host}:{self.action_port}/webhook"
        )

    def rasa_token(self) -> str:
        """``RASA_AUTH_TOKEN``, else a random token kept in ``var/secrets/`` (never committed)."""
        return stored_secret(self.var_dir, "RASA_AUTH_TOKEN", "rasa_auth_token")

    def lookup_key(self) -> str:
        """Key of the keyed digests of looked-up application numbers (lookup_audit)."""
        return stored_secret(self.var_dir, "LOOKUP_AUDIT_KEY", "lookup_audit_key")


def stored_secret(var_dir: Path, env: str, name: str) -> str:
    """The secret in environment variable ``env``, else one generated once into
    ``var/secrets/<name>`` (mode 0600). A scaled-out deployment sets the variable, so that
    every process shares it."""
    value = os.environ.get(env)
    if value:
        return value
    path = var_dir / "secrets" / name
    if path.is_file():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    value = secrets.token_urlsafe(32)
    # Created with 0600 from the start: no moment in which another user could read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def load_settings() -> Settings:
    root = ROOT
    var_dir = Path(os.environ.get("VAR_DIR") or root / "var")
    return Settings(
        root=root,
        var_dir=var_dir,
        rasa_host=os.environ.get("RASA_HOST", "0.0.0.0"),
        rasa_port=_int("RASA_PORT", 5005),
        action_host=os.environ.get("ACTION_HOST", "127.0.0.1"),
        action_port=_int("ACTION_PORT", 5055),
        models_dir=Path(os.environ.get("MODELS_DIR") or root / "models"),
        tracker_db=Path(os.environ.get("TRACKER_DB") or var_dir / "tracker.db"),
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'applications.db'}",
        web_host=os.environ.get("WEB_HOST", "0.0.0.0"),
        web_port=_int("WEB_PORT", 8000),
    )
