"""The local stack without Docker:
python -m devstack {install|up|down|status|restart NAME|supervise}.

Ports and the state folder come from the environment (KAFKA_PORT, MONGO_PORT,
SUBMISSIONS_PORT, ..., STACK_DIR); see README.md."""

from __future__ import annotations

import argparse
import asyncio
import sys

from devstack import parts, prometheus, supervise
from devstack.config import SERVICES, StackConfig
from devstack.install import install
from devstack.procs import StackError


def up(cfg: StackConfig, services: bool = True) -> None:
    from services.common.topics import ensure_topics

    print(f"local stack in {cfg.state}")
    install(cfg)
    print(f"  kafka      127.0.0.1:{cfg.kafka_port}: {parts.start_kafka(cfg)}")
    print(f"  ferretdb   127.0.0.1:{cfg.mongo_port}: {parts.start_ferretdb(cfg)}")
    created = ensure_topics(cfg.kafka_bootstrap, replication=1, auth=cfg.kafka_auth())
    print(f"  topics: {'created ' + ', '.join(created) if created else 'present'}")
    secured = parts.secure_kafka(cfg)
    print(f"  kafka acls: {secured['acls']} (principals and passwords in {cfg.kafka_secrets}, "
          f"admin client.properties {cfg.kafka_client_properties})")
    parts.ensure_credentials(cfg)
    print(f"  credentials: {cfg.credentials}")
    _publish_registry(cfg)
    print(f"  sinks      {parts.sinks_dir(cfg)}: {parts.start_sinks(cfg)}")
    if services:
        for name in SERVICES:
            print(f"  {name:<15}{cfg.service_url(name)}: {parts.start_service(cfg, name)}")
        print(f"  {'prometheus':<15}http://127.0.0.1:{prometheus.prometheus_port()}: "
              f"{prometheus.start(cfg)}")


def _publish_registry(cfg: StackConfig) -> None:
    from services.submissions.publish_registry import publish_registry
    from services.submissions.settings import SubmissionsSettings

    auth = cfg.kafka_auth("submissions")
    count = asyncio.run(publish_registry(SubmissionsSettings(
        kafka_bootstrap=cfg.kafka_bootstrap, kafka_username=auth.username,
        kafka_password=auth.password)))
    print(f"  registry: {count} records on emulation.units.v1")


def down(cfg: StackConfig) -> None:
    for name in ("supervisor", "prometheus", *reversed(SERVICES), "sinks", "ferretdb",
                 "kafka"):
        stopped = parts.proc(cfg, name).stop()
        print(f"  {name:<15}{'stopped' if stopped else 'not running'}")


def status(cfg: StackConfig) -> int:
    print(f"local stack in {cfg.state}")
    rows = [("kafka", f"127.0.0.1:{cfg.kafka_port}"), ("ferretdb", cfg.mongo_url)]
    rows += [(name, cfg.service_url(name)) for name in SERVICES]
    rows += [("prometheus", f"http://127.0.0.1:{prometheus.prometheus_port()}")]
    rows += [("supervisor", "restarts a service whose /livez fails")]
    running = 0
    for name, where in rows:
        pid = parts.proc(cfg, name).pid()
        state = f"running (pid {pid})" if pid else "stopped"
        if pid and name in SERVICES:
            state += ", ready" if parts.http_ready(where) else ", not ready"
        running += bool(pid)
        print(f"  {name:<15}{state:<32}{where}")
    print(f"  logs: {cfg.logs}")
    # The stack runs without Prometheus, and without the supervisor (test stacks).
    optional = 1 if prometheus.available() else 2
    return 0 if running >= len(rows) - optional else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["install", "up", "infra", "down", "status",
                                            "restart", "supervise"])
    parser.add_argument("name", nargs="?", help="service to restart")
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    try:
        if args.command == "install":
            install(cfg)
            prometheus.install()
        elif args.command == "up":
            up(cfg)
            # Only `make up`'s stack is watched: test stacks stop and start services
            # on purpose.
            print(f"  {'supervisor':<15}{supervise.start(cfg)} (log {cfg.logs}/supervisor.log)")
        elif args.command == "supervise":
            supervise.Watchdog(supervise.stack_targets(cfg)).run()
        elif args.command == "infra":
            up(cfg, services=False)
        elif args.command == "down":
            down(cfg)
        elif args.command == "status":
            return status(cfg)
        elif args.command == "restart":
            if args.name not in SERVICES:
                parser.error(f"restart needs one of {', '.join(SERVICES)}")
            parts.proc(cfg, args.name).stop()
            print(f"  {args.name}: {parts.start_service(cfg, args.name)}")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
