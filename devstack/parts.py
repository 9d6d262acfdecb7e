"""The parts of the local stack: Kafka (KRaft), FerretDB, and the four services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from devstack import kafka_security
from devstack.config import ROOT, SERVICES, StackConfig
from devstack.procs import Proc, StackError, port_freed, port_open, wait_until

LOG4J2 = """Configuration:
  Appenders:
    RollingFile:
      - name: Server
        fileName: "${sys:kafka.logs.dir}/server.log"
        filePattern: "${sys:kafka.logs.dir}/server.log.%i"
        PatternLayout: {pattern: "[%d] %p %m (%c)%n"}
        Policies: {SizeBasedTriggeringPolicy: {size: 20MB}}
        DefaultRolloverStrategy: {max: 3}
      - name: Authorizer
        fileName: "${sys:kafka.logs.dir}/kafka-authorizer.log"
        filePattern: "${sys:kafka.logs.dir}/kafka-authorizer.log.%i"
        PatternLayout: {pattern: "[%d] %p %m (%c)%n"}
        Policies: {SizeBasedTriggeringPolicy: {size: 20MB}}
        DefaultRolloverStrategy: {max: 3}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: Server}]}
    # Every denied operation (INFO; allowed ones are DEBUG), apart from the server log.
    Logger:
      - name: kafka.authorizer.logger
        level: INFO
        additivity: false
        AppenderRef: [{ref: Authorizer}]
"""


def proc(cfg: StackConfig, name: str) -> Proc:
    return Proc(name, cfg.run, cfg.logs)


# -- Kafka ---------------------------------------------------------------------------------

def kafka_properties(cfg: StackConfig, log_dir: Path, passwords: dict[str, str]) -> str:
    k, c = cfg.kafka_port, cfg.controller_port
    listener = kafka_security.LISTENER
    security = kafka_security.broker_settings(passwords)
    return "\n".join([
        "process.roles=broker,controller", "node.id=1",
        f"controller.quorum.bootstrap.servers=127.0.0.1:{c}",
        f"listeners={listener}://127.0.0.1:{k},CONTROLLER://127.0.0.1:{c}",
        f"advertised.listeners={listener}://127.0.0.1:{k}",
        "controller.listener.names=CONTROLLER",
        *(f"{key}={value}" for key, value in security.items()),
        f"log.dirs={log_dir}", "num.partitions=6", "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1", "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1", "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=6", "log.retention.hours=-1", "",
    ])


def start_kafka(cfg: StackConfig) -> str:
    p = proc(cfg, "kafka")
    if p.pid() is not None:
        return "already running"
    if port_open(cfg.kafka_port):
        raise StackError(f"port {cfg.kafka_port} is taken by another process (set KAFKA_PORT)")
    home = cfg.state / "kafka"
    data = cfg.data / "kafka"
    home.mkdir(parents=True, exist_ok=True)
    formatted = (data / "meta.properties").exists()
    if formatted and not cfg.kafka_secrets.exists():
        raise StackError(f"the Kafka data in {data} was formatted before Kafka required "
                         "authentication (its SCRAM users are unknown): remove that folder "
                         "(`make clean` for the default stack) and start again")
    passwords = kafka_security.ensure_secrets(cfg.kafka_secrets)
    # The broker's own passwords are in it: only this user may read it.
    kafka_security.write_private(home / "server.properties",
                                 kafka_properties(cfg, data, passwords))
    kafka_security.write_private(cfg.kafka_client_properties, "\n".join([
        f"bootstrap.servers={cfg.kafka_bootstrap}",
        cfg.kafka_auth().java_properties()]))
    (home / "log4j2.yaml").write_text(LOG4J2)
    classpath = f"{cfg.kafka_libs}/*"
    java = ["java", "-cp", classpath]
    if not formatted:
        cluster_id = subprocess.run([*java, "kafka.tools.StorageTool", "random-uuid"],
                                    capture_output=True, text=True, check=True
                                    ).stdout.strip().splitlines()[-1]
        fmt = ["kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
               "-c", str(home / "server.properties"), *kafka_security.format_args(passwords)]
        result = subprocess.run([*java, *fmt], capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    p.start(["java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC",
             f"-Dkafka.logs.dir={cfg.logs / 'kafka-server'}",
             f"-Dlog4j2.configurationFile={home / 'log4j2.yaml'}",
             "-cp", classpath, "kafka.Kafka", str(home / "server.properties")],
            env=dict(os.environ), cwd=home)
    wait_until("Kafka", lambda: port_open(cfg.kafka_port) and kafka_metadata(cfg), 90, p)
    return "started"


def kafka_metadata(cfg: StackConfig) -> bool:
    """Readiness: the broker answers a metadata request and lists itself unfenced."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(request_timeout_ms=3000, client_id="devstack",
                             **cfg.kafka_client())
    try:
        cluster = admin.describe_cluster()
        return any(not b.get("is_fenced", False) for b in cluster.get("brokers", []))
    finally:
        admin.close()


# -- FerretDB ------------------------------------------------------------------------------

def start_ferretdb(cfg: StackConfig) -> str:
    p = proc(cfg, "ferretdb")
    if p.pid() is not None:
        return "already running"
    if port_open(cfg.mongo_port):
        raise StackError(f"port {cfg.mongo_port} is taken by another process (set MONGO_PORT)")
    p.start([str(cfg.ferretdb_bin), "-listen", f"127.0.0.1:{cfg.mongo_port}",
             "-data", str(cfg.data / "ferretdb"), "-synchronous", cfg.ferretdb_synchronous],
            env=dict(os.environ), cwd=ROOT)
    wait_until("FerretDB", lambda: mongo_ping(cfg), 30, p)
    return "started"


def mongo_ping(cfg: StackConfig) -> bool:
    import pymongo

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        cfg.mongo_url, serverSelectionTimeoutMS=1000)
    try:
        return bool(client.admin.command("ping").get("ok"))
    finally:
        client.close()


# -- the services --------------------------------------------------------------------------

def service_env(cfg: StackConfig, name: str) -> dict[str, str]:
    env = {
        **os.environ,
        "EMULATION_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "EMULATION_MONGO_URL": cfg.mongo_url,
        "EMULATION_HTTP_PORT": str(cfg.service_ports[name]),
        "EMULATION_CREDENTIALS_FILE": str(cfg.hashed_credentials),
        "EMULATION_CLOCK_CONTROL": "true" if cfg.clock_control else "false",
        # The local FerretDB (SQLite): one write at a time per service (ADR 0002).
        "EMULATION_MONGO_SERIAL_WRITES": os.environ.get("EMULATION_MONGO_SERIAL_WRITES",
                                                        "true"),
        "PYTHONUNBUFFERED": "1",
        # Tracing as compose and k8s set it, but no exporter unless asked for: the
        # specification's default (`otlp`) would send to a collector the stack lacks.
        "OTEL_SERVICE_NAME": name,
        "OTEL_TRACES_EXPORTER": os.environ.get("OTEL_TRACES_EXPORTER", "none"),
        **kafka_env(cfg, name),
    }
    if name == "submissions":
        env["EMULATION_UNIT_KEYS_FILE"] = str(cfg.unit_keys)
    if name == "notifications":
        ports = sink_ports()
        env.update({"EMULATION_SMTP_PORT": str(ports["smtp"]),
                    "EMULATION_SMPP_PORT": str(ports["smpp"]),
                    "EMULATION_HTTP_SMS_URL": f"http://127.0.0.1:{ports['http_sms']}/sms",
                    # The SMTP sink's log by Message-ID: unknown e-mails are reconciled.
                    "EMULATION_SMTP_TRACE_URL":
                        f"http://127.0.0.1:{ports['http_sms']}/smtp/messages"})
    return env


def kafka_env(cfg: StackConfig, principal: str) -> dict[str, str]:
    """The settings that make a process Kafka principal `principal` of the stack."""
    auth = cfg.kafka_auth(principal)
    return {"EMULATION_KAFKA_USERNAME": str(auth.username),
            "EMULATION_KAFKA_PASSWORD": str(auth.password),
            "EMULATION_KAFKA_SECURITY_PROTOCOL": auth.protocol}


def secure_kafka(cfg: StackConfig, bootstrap: str | None = None) -> dict[str, int]:
    """Every principal's SCRAM user and its ACLs (services/common/kafka_acls.py)."""
    from services.common.kafka_acls import apply_acls

    passwords = kafka_security.ensure_secrets(cfg.kafka_secrets)
    return apply_acls(bootstrap or cfg.kafka_bootstrap, cfg.kafka_auth(),
                      kafka_security.scram_users(passwords))


# -- the provider sinks (SMTP, SMPP, HTTP SMS) the notifications service sends to ------------

def sink_ports() -> dict[str, int]:
    return {"smtp": int(os.environ.get("SMTP_PORT", 1025)),
            "smpp": int(os.environ.get("SMPP_PORT", 2775)),
            "http_sms": int(os.environ.get("HTTP_SMS_PORT", 2780))}


def sinks_dir(cfg: StackConfig) -> Path:
    return cfg.state / "sinks"


def start_sinks(cfg: StackConfig) -> str:
    """devstack/sinks.py: what they receive is in <state>/sinks/*.jsonl."""
    p = proc(cfg, "sinks")
    if p.pid() is not None:
        return "already running"
    ports = sink_ports()
    for what, port in ports.items():
        if port_open(port):
            raise StackError(f"port {port} is taken by another process "
                             f"(set {what.upper()}_PORT)")
    p.start([sys.executable, "-m", "devstack.sinks", "--smtp-port", str(ports["smtp"]),
             "--smpp-port", str(ports["smpp"]), "--http-sms-port", str(ports["http_sms"]),
             "--out", str(sinks_dir(cfg))], env=dict(os.environ), cwd=ROOT)
    wait_until("the sinks", lambda: all(port_open(port) for port in ports.values()), 30, p)
    return "started"


def start_service(cfg: StackConfig, name: str, wait: bool = True) -> str:
    p = proc(cfg, name)
    if p.pid() is not None:
        return "already running"
    port = cfg.service_ports[name]
    if not port_freed(port):
        raise StackError(f"port {port} is taken by another process "
                         f"(set {name.upper()}_PORT)")
    p.start([sys.executable, "-m", f"services.{name}"], env=service_env(cfg, name), cwd=ROOT)
    if wait:
        wait_until(f"the {name} service", lambda: http_ready(cfg.service_url(name)), 90, p)
    return "started"


def start_instance(cfg: StackConfig, name: str, instance: str, port: int, *,
                   env: dict[str, str] | None = None, wait: bool = True) -> Proc:
    """One more process of service `name` (process `<name>-<instance>`, its own pid file
    and log) on another HTTP port, with the stack's settings otherwise: the same consumer
    group and database, for the scale-out proofs. `env` overrides settings (another Kafka,
    another database). `make down` does not know it: whoever starts it stops it."""
    p = proc(cfg, f"{name}-{instance}")
    if p.pid() is not None:
        raise StackError(f"{p.name} is already running (pid {p.pid()})")
    if not port_freed(port):
        raise StackError(f"port {port} is taken by another process")
    p.start([sys.executable, "-m", f"services.{name}"],
            env={**service_env(cfg, name), "EMULATION_HTTP_PORT": str(port), **(env or {})},
            cwd=ROOT)
    if wait:
        wait_until(f"{p.name}", lambda: http_ready(f"http://127.0.0.1:{port}"), 90, p)
    return p


def http_ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=3) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def ensure_credentials(cfg: StackConfig) -> None:
    """Development tokens: a bootstrap admin account and one token per unit (kept across
    restarts while valid; written anew when the file is of an older version or the admin
    expires within a day). Named accounts: `python -m services.common.accounts`."""
    from services.common.auth import (
        BOOTSTRAP_ADMIN,
        OPERATOR,
        VERSION,
        issue_credentials,
        parse_iso,
        utcnow,
    )
    from services.submissions.registry import load_registry

    units = [u.unit_id for u in load_registry().all_units()]
    kept: dict[str, Any] = {}
    ensure_unit_keys(cfg, units)
    if cfg.credentials.exists() and cfg.hashed_credentials.exists():
        plain = json.loads(cfg.credentials.read_text())
        hashed = json.loads(cfg.hashed_credentials.read_text())
        expires = plain.get("admin_expires_at")
        if hashed.get("version") == VERSION:
            if (expires and parse_iso(expires) - utcnow() > timedelta(days=1)
                    and set(plain.get("units", {})) >= set(units)):
                return
            # The named accounts issued meanwhile stay; the bootstrap admin and the
            # development unit tokens are issued anew.
            kept = {h: e for h, e in hashed.get("tokens", {}).items()
                    if e.get("kind") == OPERATOR and e.get("name") != BOOTSTRAP_ADMIN}
    plain, hashed = issue_credentials(units)
    hashed["tokens"].update(kept)
    cfg.state.mkdir(parents=True, exist_ok=True)
    for path, doc in ((cfg.credentials, plain), (cfg.hashed_credentials, hashed)):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.chmod(0o600)
        tmp.replace(path)


def ensure_unit_keys(cfg: StackConfig, units: list[str]) -> None:
    """A signing key per unit for the Kafka way in (services/submissions/proof.py), kept
    across restarts; units new to the registry get one. Mode 0600: the service checks an
    HMAC with the key itself, so the file holds the keys, not hashes."""
    from services.submissions.proof import issue_unit_keys

    known = json.loads(cfg.unit_keys.read_text()) if cfg.unit_keys.exists() else {}
    missing = [u for u in units if u not in known]
    if missing:
        known.update(issue_unit_keys(missing))
        kafka_security.write_private(cfg.unit_keys, json.dumps(known, indent=1) + "\n")


def all_services() -> tuple[str, ...]:
    return SERVICES
