"""Typed settings shared by every service (pydantic-settings, `EMULATION_` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.kafka_auth import MECHANISM, KafkaAuth

REPO_ROOT = Path(__file__).resolve().parents[2]
# Room for an event's envelope and receipt around a body of max_body_bytes.
RECORD_ENVELOPE_ALLOWANCE = 32 * 1024


class ServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it with its own defaults."""

    model_config = SettingsConfigDict(env_prefix="EMULATION_", extra="ignore")

    service_name: str = "service"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # The service's Kafka principal (SASL/SCRAM-SHA-512). With a username the protocol
    # defaults to SASL_PLAINTEXT; set SASL_SSL where the network is not the machine's own
    # loopback (docs/kafka-security.md). No username: PLAINTEXT, for a broker without SASL.
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    # Or a file holding the password (a mounted Secret: compose or Kubernetes).
    kafka_password_file: Path | None = None
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str = MECHANISM
    kafka_ssl_cafile: Path | None = None
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
    # As many as a batch holds: their reads and writes go out as one `$in` read and one
    # bulk write per collection (GroupCommit), so fewer at a time means more round trips.
    consumer_concurrency: int = 200
    # Static membership of the consumer group (KIP-345), unique per process and kept
    # across its restarts. Off by default: see docs/faults.md (the restart stall).
    group_instance_id: str | None = None
    # Lets fault tests stall this process's consumer on purpose (never in production).
    fault_injection: bool = False

    @model_validator(mode="after")
    def _kafka_credentials_complete(self) -> ServiceSettings:
        self.kafka_auth()  # fails at start-up on a username without a password, etc.
        return self

    def kafka_auth(self) -> KafkaAuth:
        if not self.kafka_username:
            return KafkaAuth(protocol=self.kafka_security_protocol or "PLAINTEXT")
        password = self.kafka_password.get_secret_value() if self.kafka_password else None
        if password is None and self.kafka_password_file is not None:
            password = self.kafka_password_file.read_text(encoding="utf-8").strip()
        return KafkaAuth(
            username=self.kafka_username, password=password,
            protocol=self.kafka_security_protocol or "SASL_PLAINTEXT",
            mechanism=self.kafka_sasl_mechanism,
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None)

    def record_limit(self) -> int:
        return self.max_record_bytes or self.max_body_bytes + RECORD_ENVELOPE_ALLOWANCE
