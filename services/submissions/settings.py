from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import REPO_ROOT, ServiceSettings


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
    # HTTP submissions in progress at once in this process; the next one gets 429 with
    # Retry-After at once. Each holds a parsed body and a few database round trips; a
    # body still being uploaded holds no place (body_read_timeout_seconds bounds it).
    # The local FerretDB serialises writes: on the 2-core machine throughput peaked at
    # 4-8 concurrent submissions and collapsed into 503s (database timeouts) at 32
    # (docs/faults.md). Raise it on MongoDB; scale out with more processes.
    max_inflight_submissions: int = Field(default=8, ge=1)
    # HTTP submissions waiting or in progress at once, counted from their first byte (so
    # also those uploading or queued for the event loop); the next one gets 429 at once,
    # before its body is read. Bounds an overloaded intake's latency: requests offered
    # faster than it can read them would otherwise queue for tens of seconds.
    max_queued_submissions: int = Field(default=64, ge=1)
    # Seconds a write of the intake waits for others to share its bulk write (group
    # commit: outbox entries, inserts, pointers and heads, marks as published).
    group_commit_window_seconds: float = Field(default=0.002, ge=0)
    # Records of the Kafka way in handled at once (different units; one unit's in order):
    # they share the intake's group commit, so more at once is fewer writes per record.
    intake_consumer_concurrency: int = Field(default=100, ge=1)
    # The units' keys for the proof of the unit on the Kafka way in (services/submissions/
    # proof.py), reread when the file changes; readable by this service only.
    unit_keys_file: Path = REPO_ROOT / ".local" / "unit-keys.json"
    # Off only for a platform whose Kafka producers are all trusted to speak for any unit
    # (never in production: a system with the topic's WRITE could submit for every unit).
    require_unit_proof: bool = True
