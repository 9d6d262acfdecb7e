"""The local Kafka's authentication: a generated password per principal (kept in the
stack's state folder, mode 0600, never in git), the brokers' SASL and authorizer
settings, and the SCRAM users written into the metadata when the storage is formatted.

- Client listener: SASL_PLAINTEXT with SCRAM-SHA-512 (loopback only; production uses
  SASL_SSL, docs/kafka-security.md). The brokers talk to each other on it as `broker`.
- Controller listener: SASL_PLAINTEXT with PLAIN and a static `controller` user in the
  broker's own configuration. SCRAM is not possible there: SCRAM users live in the
  metadata log that the controllers serve, so a controller could not check them before
  it has read that log.
- StandardAuthorizer, nothing allowed without an ACL; super users: broker, controller,
  admin. The other principals get services/common/kafka_acls.py's grants."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from services.common.kafka_acls import ADMIN, MINISTRY, SERVICE_PRINCIPALS
from services.common.kafka_auth import MECHANISM, KafkaAuth

BROKER, CONTROLLER = "broker", "controller"
SUPER_USERS = (BROKER, CONTROLLER, ADMIN)
# Who gets a SCRAM user: every principal but the controller (PLAIN, static).
SCRAM_USERS = (BROKER, ADMIN, *SERVICE_PRINCIPALS, MINISTRY)
PRINCIPALS = (CONTROLLER, *SCRAM_USERS)
LISTENER = "SASL_PLAINTEXT"


def ensure_secrets(path: Path) -> dict[str, str]:
    """The stack's passwords, one per principal; missing ones are generated. Kept across
    restarts: the broker's metadata holds the SCRAM users made from them."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in PRINCIPALS if not known.get(name)]
    if missing:
        known.update({name: secrets.token_urlsafe(24) for name in missing})
        write_private(path, json.dumps(known, indent=1) + "\n")
    return known


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text(text)
    tmp.replace(path)


def client_auth(path: Path, principal: str = ADMIN) -> KafkaAuth:
    """The credentials of one principal of the stack whose passwords are in `path`."""
    passwords = json.loads(path.read_text())
    return KafkaAuth.scram(principal, passwords[principal])


def scram_users(passwords: dict[str, str]) -> dict[str, str]:
    return {name: passwords[name] for name in SCRAM_USERS}


def broker_settings(passwords: dict[str, str]) -> dict[str, str]:
    """The security half of a node's server.properties (both roles)."""
    scram = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
             f'username="{BROKER}" password="{passwords[BROKER]}";')
    plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
             f'username="{CONTROLLER}" password="{passwords[CONTROLLER]}" '
             f'user_{CONTROLLER}="{passwords[CONTROLLER]}";')
    return {
        "listener.security.protocol.map": f"CONTROLLER:SASL_PLAINTEXT,{LISTENER}:SASL_PLAINTEXT",
        "inter.broker.listener.name": LISTENER,
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.{LISTENER.lower()}.{MECHANISM.lower()}.sasl.jaas.config": scram,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": ";".join(f"User:{name}" for name in SUPER_USERS),
    }


def env_lines(passwords: dict[str, str]) -> str:
    """The passwords as `KAFKA_<NAME>_PASSWORD=...` lines: docker-compose.yml's `.env`."""
    return "".join(f"KAFKA_{name.upper()}_PASSWORD={passwords[name]}\n" for name in PRINCIPALS)


def format_args(passwords: dict[str, str]) -> list[str]:
    """`StorageTool format` arguments that write the SCRAM users into the new metadata:
    the broker needs its own before anything can talk to it."""
    args: list[str] = []
    for name, password in scram_users(passwords).items():
        args += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
    return args


if __name__ == "__main__":
    # python -m devstack.kafka_security FILE: a fresh (or the kept) password per principal
    # in FILE, printed as docker-compose.yml's .env lines.
    import sys

    print(env_lines(ensure_secrets(Path(sys.argv[1]))), end="")
