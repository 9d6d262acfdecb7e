from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings


class SubmissionsSettings(ServiceSettings):
    service_name: str = "submissions"
    mongo_db: str = "emulation_submissions"
    http_port: int = 8001
    # Where the unit registry's YAML lives (default: beside the code).
    registry_dir: Path | None = None
    # Seconds an unpublished submission waits before the outbox relay publishes it
    # (the request that stored it normally publishes it first).
    relay_grace_seconds: float = 5.0
    relay_interval_seconds: float = 1.0
