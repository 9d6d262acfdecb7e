from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings
from services.notifications.campaigns import DEFAULTS_FILE
from services.notifications.templates import TEMPLATES_DIR


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    mongo_db: str = "emulation_notifications"
    http_port: int = 8003
    # E-mail over SMTP (the local sink by default; Mailpit or a relay in production).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "nhac-han-thi-dua@notifications.emulation.example"
    smtp_timeout_seconds: float = 10.0
    # The domain of the deterministic Message-IDs.
    email_domain: str = "notifications.emulation.example"
    # Who is reminded of the synthesis for the Prime Minister (PUT /v1/milestones/{period}
    # sets them per period): the MPS and MOHA operators who draft and send it.
    synthesis_recipients: list[str] = ["tong-hop@operators.emulation.example"]
    # SMS providers, tried in this order: "smpp" and "http-sms" (empty URL: off).
    sms_providers: str = "smpp,http-sms"
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
    smpp_system_id: str = "emulation"
    smpp_password: str = "emulation"
    smpp_source_addr: str = "THIDUA-BCA"
    smpp_timeout_seconds: float = 10.0
    # An idle SMPP session sends enquire_link after this long; no answer within the
    # SMPP timeout drops it.
    smpp_enquire_link_seconds: float = 30.0
    http_sms_url: str = "http://127.0.0.1:2780/sms"
    http_sms_timeout_seconds: float = 10.0
    # The scheduler: a pass every few seconds of real time, evaluating clock.now().
    scheduler_interval_seconds: float = 3.0
    # Create the default campaign for the clock's year if there is none.
    auto_campaign: bool = True
    campaign_defaults_file: Path = DEFAULTS_FILE
    templates_dir: Path = TEMPLATES_DIR
    send_concurrency: int = 8
    # A `sending` claim untouched this long is abandoned (its outcome becomes unknown).
    # Unset: derived from the providers' timeouts (`reminder_sender.required_claim_timeout`); a
    # value shorter than that is refused at startup.
    claim_timeout_seconds: float | None = None
    # Unknown outcomes (resolver.py): an e-mail is looked up by its Message-ID in the
    # relay's log at this URL (empty: off; the local sink serves `/smtp/messages`), else
    # sent once more by the other channel; each after this long unknown.
    smtp_trace_url: str = ""
    smtp_trace_timeout_seconds: float = 5.0
    unknown_grace_seconds: float = 60.0
    # Retries: per provider within one send, then whole rounds later (real time).
    provider_attempts: int = 2
    provider_backoff_seconds: float = 0.25
    retry_rounds: int = 3
    retry_backoff_seconds: float = 60.0
    breaker_failures: int = 3
    breaker_cooldown_seconds: float = 15.0
    relay_interval_seconds: float = 2.0
    # How often the per-period completeness gauges are refreshed.
    gauges_interval_seconds: float = 30.0
