"""One entry point for the status lookup, shared by the actions (one per process)."""

from __future__ import annotations

import functools
from typing import List, Optional

from bot.applications.describe import ApplicationDescriber, Office
from bot.applications.lookup import ApplicationLookup, LookupResult
from bot.config import load_settings
from bot.db.models import Application
from bot.kb.resolve import Kind, Question
from bot.kb.service import PolicyService, get_policy_service
from bot.text.normalize import normalize_text


class StatusService:
    def __init__(
        self,
        lookup: ApplicationLookup,
        policies: PolicyService,
        describer: Optional[ApplicationDescriber] = None,
    ) -> None:
        self.lookup = lookup
        self.policies = policies
        self.describer = describer or ApplicationDescriber()

    def check(
        self, conversation_id: str, application_no: str, phone_last4: str, channel: Optional[str]
    ) -> LookupResult:
        return self.lookup.check(conversation_id, application_no, phone_last4, channel)

    def office(self, app: Application) -> Office:
        """The item's KB entry gives where to go; the city's office is the fallback."""
        regions = self.policies.kb.vocabulary.regions
        region = next((r for r in regions if r.name == app.region), None)
        contacts: tuple = ()
        resolution = self.policies.resolve(
            Question(text=normalize_text(app.item), region=region.name if region else None)
        )
        if resolution.kind is Kind.ANSWER and resolution.entry is not None:
            if resolution.entry.region == app.region:
                contacts = resolution.entry.contact
        return Office(
            department=app.department,
            contacts=contacts,
            office=region.office if region else None,
        )

    def summary(self, app: Application) -> List[str]:
        return self.describer.summary(app, self.office(app))

    def followup(self, app: Application, topic: str) -> List[str]:
        return self.describer.followup(app, self.office(app), topic)


@functools.lru_cache(maxsize=1)
def get_status_service() -> StatusService:
    settings = load_settings()
    return StatusService(ApplicationLookup(settings.lookup_key()), get_policy_service())
