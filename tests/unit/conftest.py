"""Shared fixtures of the unit tests: the real knowledge base, loaded once per session."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import pytest
import spacy  # noqa: F401  (see below)
import yaml

from bot.config import load_settings
from bot.kb.loader import KnowledgeBase
from bot.kb.models import ASPECTS, REGIONS
from bot.kb.resolve import Question, Resolution
from bot.kb.service import PolicyService, get_policy_service, kb_path
from bot.text.normalize import is_payload, normalize_text

# spaCy is imported here, before any test module imports rasa: rasa pulls in sanic, which
# installs a "once" filter for DeprecationWarning that overrides pytest's "ignore", and
# spaCy's own imports (typer, click, packaging) would then fill the summary with noise.

ROOT = Path(__file__).resolve().parents[2]
KB_DIR = ROOT / "policies_kb"
DOMAIN_FILE = ROOT / "domain.yml"

PAYLOAD_RE = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?$", re.DOTALL)


@pytest.fixture()
def action_client_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``bot.action_client.apply`` changes is put back after the test."""
    from rasa.core import run
    from rasa.utils.endpoints import EndpointConfig

    from bot import action_client

    monkeypatch.setattr(EndpointConfig, "session", EndpointConfig.session)
    monkeypatch.setattr(EndpointConfig, "request", EndpointConfig.request)
    monkeypatch.setattr(run, "close_resources", run.close_resources)
    monkeypatch.setattr(action_client, "_settings", dict(action_client._settings))


@pytest.fixture(scope="session", autouse=True)
def _real_kb_path() -> Iterator[None]:
    """Every test (and the actions, through get_policy_service) reads the shipped KB."""
    saved = os.environ.pop("KB_PATH", None)
    try:
        assert kb_path() == KB_DIR
        yield
    finally:
        if saved is not None:
            os.environ["KB_PATH"] = saved


@pytest.fixture(scope="session")
def service() -> PolicyService:
    """The process-wide policy service, the same instance the actions use."""
    return get_policy_service()


@pytest.fixture(scope="session")
def kb(service: PolicyService) -> KnowledgeBase:
    return service.kb


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    with DOMAIN_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


Ask = Callable[..., Resolution]


@pytest.fixture(scope="session")
def ask(service: PolicyService) -> Ask:
    """Resolves a raw user text (normalised as the NLU pipeline would) with extra context."""

    def _ask(text: str, **context: Any) -> Resolution:
        if "linked" in context:
            context["linked"] = tuple(context["linked"])
        if "pending" in context:
            context["pending"] = tuple(context["pending"])
        if "aspect" in context:  # a button's aspect (typed text is read by the resolver)
            aspect = context.pop("aspect")
            context["aspects"] = (aspect,) if aspect else ()
        return service.resolve(Question(text=normalize_text(text), **context))

    return _ask


def parse_payload(payload: str) -> Tuple[str, Dict[str, Any]]:
    """Splits a Rasa button payload into its intent and entities; fails on bad JSON."""
    match = PAYLOAD_RE.match(payload)
    assert match, f"not a Rasa payload: {payload!r}"
    raw = match.group("entities")
    entities = json.loads(raw) if raw else {}
    assert isinstance(entities, dict), payload
    return match.group("intent"), entities


@pytest.fixture(scope="session")
def check_buttons(domain: Dict[str, Any], kb: KnowledgeBase) -> Callable[..., None]:
    """Asserts that buttons are well formed and their payloads make sense for the domain."""
    intents: Set[str] = set(domain["intents"])
    entity_names: Set[str] = set(domain["entities"])

    def _check(buttons: List[Dict[str, Any]], *, max_buttons: Optional[int] = None) -> None:
        if max_buttons is not None:
            assert len(buttons) <= max_buttons
        payloads = [b["payload"] for b in buttons]
        assert len(set(payloads)) == len(payloads), f"duplicate buttons: {payloads}"
        for button in buttons:
            assert set(button) == {"title", "payload"}, button
            assert isinstance(button["title"], str) and button["title"].strip()
            payload = button["payload"]
            if not is_payload(payload):
                # A plain-text button is sent as if typed: it must have words.
                assert payload.strip(), button
                continue
            intent, entities = parse_payload(payload)
            assert intent in intents, f"unknown intent {intent!r} in {payload}"
            for name, value in entities.items():
                assert name in entity_names, f"unknown entity {name!r} in {payload}"
                if name == "policy":
                    assert kb.get(value) is not None, payload
                elif name == "aspect":
                    assert value in ASPECTS, payload
                elif name == "region":
                    assert value in REGIONS, payload

    return _check


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated SQLite database, also what DATABASE_URL (and so the CLI) points at."""
    from bot.db import upgrade_database
    from bot.db.session import dispose_engines

    url = f"sqlite:///{tmp_path / 'db' / 'applications.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade_database(url)
    yield url
    dispose_engines()


@pytest.fixture
def web_settings(db_url: str, tmp_path: Path, always_open: None) -> Any:
    """Settings of a web server on the fresh database, with its var/ and tracker in tmp_path."""
    return dataclasses.replace(
        load_settings(),
        var_dir=tmp_path / "var",
        database_url=db_url,
        tracker_db=tmp_path / "tracker.db",
    )


@pytest.fixture
def sample_db(db_url: str) -> str:
    """The migrated database with the shipped sample export imported."""
    from bot.applications import import_applications
    from bot.db import session_scope

    with session_scope(db_url) as session:
        import_applications(
            session,
            ROOT / "samples" / "applications.csv",
            ROOT / "samples" / "application_events.csv",
        )
    return db_url


@pytest.fixture
def always_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Specialists on duty round the clock, so that handoff replies do not depend on the hour
    the tests run at."""
    from bot.handoff.service import get_handoff_service

    monkeypatch.setenv("HANDOFF_HOURS", "mon-sun 00:00-24:00")
    monkeypatch.delenv("HANDOFF_CLOSED_DATES", raising=False)
    get_handoff_service.cache_clear()
    yield
    get_handoff_service.cache_clear()


def nlu_examples(path: Path) -> List[Tuple[str, str]]:
    """(text, intent) pairs of any NLU data file."""
    from bot.evaluation.report import load_heldout

    return load_heldout(ROOT, path)


def message_key(text: str) -> str:
    """What makes two messages the same one: punctuation and spacing do not (unless they are
    all there is), and emoji-only messages, which normalise to nothing, keep their raw text."""
    normalized = normalize_text(text)
    return "".join(ch for ch in normalized if ch.isalnum()) or normalized or text


@pytest.fixture(scope="session")
def trained() -> Dict[str, str]:
    """Every NLU training example (by its key) with its intent."""
    out: Dict[str, str] = {}
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for text, intent in nlu_examples(path):
            out[message_key(text)] = intent
    return out
