from __future__ import annotations

from services.common.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    service_name: str = "scoring"
    mongo_db: str = "emulation_scoring"
    http_port: int = 8002
