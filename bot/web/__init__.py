"""The web server: staff console, console API, delivery of staff messages (docs/handoff.md)."""
