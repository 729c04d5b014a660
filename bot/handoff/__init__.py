"""Human handoff: tickets, staff accounts, service hours (see docs/handoff.md)."""
