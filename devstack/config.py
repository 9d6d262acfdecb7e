"""Where the local stack lives and which ports it uses (all from the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KAFKA_VERSION = "4.1.1"
SERVICES = ("submissions", "scoring", "notifications", "reporting")


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class StackConfig:
    """One stack: its state folder (data, logs, pids, credentials) and its ports."""

    state: Path
    kafka_port: int
    controller_port: int
    mongo_port: int
    service_ports: dict[str, int]
    clock_control: bool = False
    # SQLite's `synchronous` under FerretDB (deploy/ferretdb/main.go): "normal" keeps
    # every commit across any process's crash (WAL), "full" also across a power loss, at
    # one fsync per write (ADR 0002).
    ferretdb_synchronous: str = "normal"

    @classmethod
    def from_env(cls) -> StackConfig:
        state = Path(os.environ.get("STACK_DIR", ROOT / ".local"))
        return cls(
            state=state if state.is_absolute() else ROOT / state,
            kafka_port=_port("KAFKA_PORT", 9092),
            controller_port=_port("KAFKA_CONTROLLER_PORT", 9093),
            mongo_port=_port("MONGO_PORT", 27017),
            service_ports={
                "submissions": _port("SUBMISSIONS_PORT", 8001),
                "scoring": _port("SCORING_PORT", 8002),
                "notifications": _port("NOTIFICATIONS_PORT", 8003),
                "reporting": _port("REPORTING_PORT", 8004),
            },
            clock_control=os.environ.get("EMULATION_CLOCK_CONTROL", "").lower()
            in ("1", "true", "yes"),
            ferretdb_synchronous=os.environ.get("FERRETDB_SYNCHRONOUS", "normal"),
        )

    # Downloads and builds are shared by every stack of this checkout.
    @property
    def opt(self) -> Path:
        return ROOT / ".local" / "opt"

    @property
    def kafka_libs(self) -> Path:
        return self.opt / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def ferretdb_bin(self) -> Path:
        return self.opt / "bin" / "ferretdb-local"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}"

    @property
    def credentials(self) -> Path:
        return self.state / "credentials.json"

    @property
    def hashed_credentials(self) -> Path:
        return self.state / "credentials.hashed.json"

    @property
    def unit_keys(self) -> Path:
        """Each unit's key for signing Kafka submission requests (proof of the unit)."""
        return self.state / "unit-keys.json"

    @property
    def kafka_secrets(self) -> Path:
        """The Kafka principals' passwords (devstack/kafka_security.py), mode 0600."""
        return self.state / "kafka-secrets.json"

    @property
    def kafka_client_properties(self) -> Path:
        """The admin principal's client.properties, for Kafka's own tools."""
        return self.state / "kafka" / "admin.properties"

    def kafka_auth(self, principal: str = "admin") -> Any:
        """A KafkaAuth of one of the stack's principals (the admin by default)."""
        from devstack.kafka_security import client_auth

        return client_auth(self.kafka_secrets, principal)

    def kafka_client(self, principal: str = "admin") -> dict[str, Any]:
        """kafka-python keyword arguments for the stack's broker as `principal`."""
        return {"bootstrap_servers": self.kafka_bootstrap,
                **self.kafka_auth(principal).kafka_python()}

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.service_ports[name]}"


def ports_from_base(base: int, state_dir: str) -> dict[str, str]:
    """The environment of a stack whose ports all derive from one base (test and bench
    stacks), so several stacks on one machine never collide."""
    return {
        "STACK_DIR": state_dir,
        "KAFKA_PORT": str(base + 92), "KAFKA_CONTROLLER_PORT": str(base + 93),
        "MONGO_PORT": str(base + 17),
        "SUBMISSIONS_PORT": str(base + 1), "SCORING_PORT": str(base + 2),
        "NOTIFICATIONS_PORT": str(base + 3), "REPORTING_PORT": str(base + 4),
        "SMTP_PORT": str(base + 25), "SMPP_PORT": str(base + 75), "HTTP_SMS_PORT": str(base + 80),
        "PROMETHEUS_PORT": str(base + 90), "EMULATION_CLOCK_CONTROL": "true",
    }
