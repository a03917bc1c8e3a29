"""Live connection changes: recorded with each change, announced by `GET /v1/events` (SSE)."""
