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
