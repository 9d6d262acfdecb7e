from __future__ import annotations

from services.common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    mongo_db: str = "emulation_reporting"
    http_port: int = 8004
