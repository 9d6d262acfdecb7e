"""Failures that fault tests arm at a named step of a record's processing, to show
that no record is acknowledged without its writes or its dead letter. Armed only through
the test-only route of a service started with `EMULATION_FAULT_INJECTION=true`."""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass

from services.common.failures import TransientError

log = logging.getLogger(__name__)

# The steps of a record, in order: decoded, before its handler writes anything; inside the
# handler, between its writes and its produce; after the produce was acknowledged; after
# the whole batch was handled (and flushed), before its offsets are acknowledged.
STEPS = ("before-handler", "before-produce", "after-produce", "before-ack")
# The intake's write path (HTTP and the Kafka way in), crash only: after its batch's
# insert, before and after its produce, before its answer.
INTAKE_STEPS = ("intake-after-write", "intake-before-produce", "intake-after-produce",
                "intake-before-answer")
# transient: the store or Kafka away (retried); permanent: the record's own fault (dead
# letter); crash: the process dies on the spot, as with kill -9 (redelivery after restart).
KINDS = ("transient", "permanent", "crash")
CRASH_EXIT_CODE = 70
# Set while a record's handler runs: a fault armed for a record's produce is not taken by
# a produce of a background job (scoring's standings go to the same topic).
IN_RECORD: ContextVar[bool] = ContextVar("in_record", default=False)


class InjectedFault(ValueError):
    """A permanent failure a test asked for."""


@dataclass
class Armed:
    kind: str
    times: int
    topic: str | None = None


class FaultPoints:
    def __init__(self) -> None:
        self._armed: dict[str, Armed] = {}
        self.hits: dict[str, int] = {}

    def arm(self, step: str, kind: str, times: int = 1, topic: str | None = None) -> None:
        if step not in STEPS + INTAKE_STEPS or kind not in KINDS or times < 1:
            raise ValueError(f"step must be one of {STEPS + INTAKE_STEPS}, kind one of "
                             f"{KINDS}, times >= 1")
        if step in INTAKE_STEPS and kind != "crash":
            raise ValueError(f"{step}: only a crash (the intake's own failures are tested "
                             "with the store or Kafka away)")
        if step == "before-ack" and kind != "crash":
            raise ValueError("before-ack: only a crash (the batch is done; nothing to retry)")
        self._armed[step] = Armed(kind, times, topic)

    def clear(self) -> None:
        self._armed.clear()

    async def hit(self, step: str, topic: str | None = None) -> None:
        armed = self._armed.get(step)
        if armed is None or (armed.topic is not None and topic is not None
                             and armed.topic != topic):
            return
        if step in ("before-produce", "after-produce") and not IN_RECORD.get():
            return
        armed.times -= 1
        if armed.times <= 0:
            del self._armed[step]
        self.hits[step] = self.hits.get(step, 0) + 1
        log.warning("injected fault", extra={"fields": {"step": step, "kind": armed.kind,
                                                         "topic": topic}})
        if armed.kind == "crash":
            os._exit(CRASH_EXIT_CODE)  # no cleanup, no commit: as a kill -9
        if armed.kind == "transient":
            raise TransientError(f"injected transient fault at {step}")
        raise InjectedFault(f"injected permanent fault at {step}")
