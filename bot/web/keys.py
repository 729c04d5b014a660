"""Typed keys of the web application's shared objects."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import jinja2
from aiohttp import web

from bot.config import Settings
from bot.handoff.feedback import FeedbackBox
from bot.handoff.outbox import Outbox
from bot.handoff.rasa_client import RasaClient
from bot.handoff.staff import StaffDirectory
from bot.handoff.tickets import HandoffService
from bot.handoff.transcript import TrackerEvents
from bot.web.live import Changes

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Callable[[], Any])
SECRET = web.AppKey("secret", str)
# Key of the widget sessions' secrets (bot.web.auth.widget_secret).
WIDGET_KEY = web.AppKey("widget_key", str)
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
STAFF = web.AppKey("staff", StaffDirectory)
TICKETS = web.AppKey("tickets", HandoffService)
EVENTS = web.AppKey("events", TrackerEvents)
CANNED = web.AppKey("canned", List[Dict[str, str]])
RASA = web.AppKey("rasa", RasaClient)
OUTBOX = web.AppKey("outbox", Outbox)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
FEEDBACK = web.AppKey("feedback", FeedbackBox)

CHANGES = web.AppKey("changes", Changes)
