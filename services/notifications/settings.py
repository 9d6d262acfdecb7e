from __future__ import annotations

from services.common.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    mongo_db: str = "emulation_notifications"
    http_port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
