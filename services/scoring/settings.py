from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    service_name: str = "scoring"
    mongo_db: str = "emulation_scoring"
    http_port: int = 8002
    # Where the rubric files live (default: services/scoring/rubrics/).
    rubrics_dir: Path | None = None
    # Longest a rescore may take to replay emulation.submissions.v1 to its end.
    rescore_timeout_seconds: float = 120.0
    # Standings and proposals are published at most this often after new scores (the
    # periods with new scores are recomputed together, from one read of their scores).
    rankings_interval_seconds: float = 1.0
    # How often a worker looks for periods left pending by a crashed or another worker
    # (and does at start-up) when it has no new scores of its own.
    rankings_sweep_seconds: float = 5.0
