"""Typed settings shared by every service (pydantic-settings, `EMULATION_` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
# Room for an event's envelope and receipt around a body of max_body_bytes.
RECORD_ENVELOPE_ALLOWANCE = 32 * 1024


class ServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it with its own defaults."""

    model_config = SettingsConfigDict(env_prefix="EMULATION_", extra="ignore")

    service_name: str = "service"
    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "emulation"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # JSON file of hashed tokens written by `make up` (never the plain tokens).
    credentials_file: Path = REPO_ROOT / ".local" / "credentials.hashed.json"
    topic_replication: int = 1
    schemas_dir: Path = REPO_ROOT / "schemas"
    # Largest request body accepted, in bytes.
    max_body_bytes: int = 1_000_000
    # Seconds from a request's headers to the end of its body; a slower upload gets 408.
    # A body of max_body_bytes needs ~270 kbit/s; the reports are far smaller.
    body_read_timeout_seconds: float = 30.0
    # Largest Kafka record value a consumer processes; a larger one is dead-lettered as
    # `too-large` before it is parsed. None: the body limit plus room for an envelope, so
    # whatever the platform produces fits, while a record made bigger than any accepted
    # body (Kafka itself takes up to 1 MiB) does not.
    max_record_bytes: int | None = None
    # Lets tests and the demo set the clock through an operator endpoint.
    clock_control: bool = False
    log_level: str = "INFO"
    # Timeout for one Kafka produce to be acknowledged by all in-sync replicas.
    produce_timeout_seconds: float = 10.0
    # /livez fails once a consumer has had records waiting and processed none (or held
    # no partition while its group had work) for this long; the supervisor restarts it.
    consumer_stall_seconds: float = 120.0
    # Before that, a consumer idle this long with records waiting on its partitions is
    # sought to its committed offsets, which restarts a wedged fetch without a restart.
    consumer_nudge_seconds: float = 30.0
    # One write at a time from this process to its database: for the local FerretDB,
    # whose SQLite makes concurrent writers sleep in its busy handler (ADR 0002). The
    # local stack sets it; MongoDB (production) needs it off.
    mongo_serial_writes: bool = False
    # Records a consumer handles together at most: the ones already fetched, up to this
    # many (a quiet topic's record is handled at once, never held to fill a batch).
    consumer_batch_size: int = 200
    # Keys (units) of one batch handled at the same time; one key's records in order.
    consumer_concurrency: int = 16
    # Static membership of the consumer group (KIP-345), unique per process and kept
    # across its restarts. Off by default: see docs/faults.md (the restart stall).
    group_instance_id: str | None = None
    # Lets fault tests stall this process's consumer on purpose (never in production).
    fault_injection: bool = False

    def record_limit(self) -> int:
        return self.max_record_bytes or self.max_body_bytes + RECORD_ENVELOPE_ALLOWANCE
