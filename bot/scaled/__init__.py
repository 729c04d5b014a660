"""The scaled deployment: PostgreSQL, Redis, nginx and several replicas (docs/deployment.md)."""
