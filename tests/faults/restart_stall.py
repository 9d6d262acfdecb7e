"""Tries to reproduce the restart stall (docs/faults.md): kills a service with -9,
starts it again at once, and checks that it fetches again: a record (not an event, so
dead-lettered) on every partition of emulation.submissions.v1 must come back as its dead
letter from that service within a minute. Runs against a running stack:

    TEST_PORT_BASE=22000 KEEP_TEST_STACK=1 .venv/bin/python -m pytest tests/faults/...
    TEST_PORT_BASE=22000 .venv/bin/python -m tests.faults.restart_stall [rounds] [service]

and prints how many rounds stalled, with the service's /readyz consumer detail."""

from __future__ import annotations

import os
import sys
import time
import uuid

import httpx
from kafka import KafkaProducer

from devstack import parts
from devstack.config import StackConfig
from tests.faults.streams import topic_records
from tests.stackfixture import TEST_ENV

SUBMISSIONS = "emulation.submissions.v1"
DEAD_LETTERS = "emulation.dead-letters.v1"


def consumers(cfg: StackConfig, service: str) -> dict[str, object]:
    try:
        body = httpx.get(cfg.service_url(service) + "/readyz", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": repr(exc)}
    return dict(body.get("consumers", {}))


def one_round(cfg: StackConfig, service: str) -> tuple[bool, dict[str, object]]:
    parts.proc(cfg, service).kill9()
    parts.start_service(cfg, service, wait=False)
    marker = f"stall-{uuid.uuid4().hex[:10]}"
    producer = KafkaProducer(acks="all", **cfg.kafka_client())
    try:
        for partition in range(6):
            producer.send(SUBMISSIONS, partition=partition,
                          value=f"{marker}-{partition}: not an event".encode()).get(60)
    finally:
        producer.close()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        rows = topic_records(cfg.kafka_bootstrap, DEAD_LETTERS, lambda e: (
            e.get("data", {}).get("consumer") == service
            and e["data"]["value"].startswith(marker)))
        if len({r["data"]["partition"] for r in rows}) == 6:
            return True, consumers(cfg, service)
        time.sleep(2)
    return False, consumers(cfg, service)


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    service = sys.argv[2] if len(sys.argv) > 2 else "notifications"
    os.environ.update({k: v for k, v in TEST_ENV.items() if k not in os.environ})
    cfg = StackConfig.from_env()
    stalled = 0
    for n in range(1, rounds + 1):
        started = time.monotonic()
        ok, detail = one_round(cfg, service)
        stalled += not ok
        print(f"round {n}: {'fetched' if ok else 'STALLED'} in "
              f"{time.monotonic() - started:.0f} s {detail}", flush=True)
    print(f"{service}: {stalled} of {rounds} restarts stalled")
    return 1 if stalled else 0


if __name__ == "__main__":
    sys.exit(main())
