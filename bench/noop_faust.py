"""The pipeline's faust anchors: a faust app made exactly like the services'
(services.common.kafka.make_faust_app) whose agent does nothing with the records.

  --mode bare        the agent only iterates `stream.events()`
  --mode recordloop  the agent runs the services' RecordLoop (envelope parse, JSON Schema
                     check, consumer span, metrics) with a handler that does nothing
  --tracing          set up OpenTelemetry as the services do (from OTEL_*), to price spans

It consumes from the offsets committed for its group (bench/kafka_io.commit_offsets),
stops after --count records and prints {"seconds": first record to last, ...} as JSON.

    python -m bench.noop_faust --bootstrap 127.0.0.1:26092 --topic T --group G --count N
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any


async def run(bootstrap: str, topic: str, group: str, count: int, mode: str,
              wait_seconds: float, tracing: bool) -> dict[str, Any]:
    from services.common.envelope import Event
    from services.common.kafka import EventProducer, RecordLoop, make_faust_app
    from services.common.telemetry import setup_tracing
    from services.common.topics import DEAD_LETTERS

    if tracing:  # as a service sets it up, from the OTEL_* variables
        setup_tracing("bench-noop")

    from services.common.settings import ServiceSettings

    auth = ServiceSettings().kafka_auth()  # EMULATION_KAFKA_*: bench/stack.py's admin
    app = make_faust_app(group, bootstrap, auth=auth)
    done = asyncio.Event()
    seen = 0
    first: float | None = None
    last: float | None = None

    def tick() -> None:
        nonlocal seen, first, last
        seen += 1
        now = time.perf_counter()
        if first is None:
            first = now
        if seen >= count:
            last = now
            done.set()

    producer = EventProducer(bootstrap, f"{group}-dlq", auth=auth)
    loop = RecordLoop(consumer=group, producer=producer, dead_letter_topic=DEAD_LETTERS,
                      source="urn:emulation:service:bench")

    async def noop(_: Event) -> None:
        tick()

    async def agent(stream: Any) -> None:
        if mode == "recordloop":
            await loop.run(stream, noop)
        else:
            async for _ in stream.events():
                tick()

    app.agent(app.topic(topic, value_serializer="raw", key_serializer="raw"),
              name=f"{group}-agent")(agent)
    started = time.perf_counter()
    await app.start()
    try:
        await asyncio.wait_for(done.wait(), wait_seconds)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(app.stop(), 15)
        await producer.stop()
    assert first is not None and last is not None
    return {"seconds": last - first, "records": seen, "startup": first - started}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--mode", choices=["bare", "recordloop"], default="bare")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--tracing", action="store_true",
                        help="set up the SDK from OTEL_* (else spans are no-ops)")
    args = parser.parse_args()
    result = asyncio.run(run(args.bootstrap, args.topic, args.group, args.count, args.mode,
                             args.timeout, args.tracing))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
