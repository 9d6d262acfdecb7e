"""What the benchmarks send: submission requests of real registry units (from the
schemas' example) and accepted-submission events with valid envelopes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from bench.stack import ROOT

# The periods the benchmarks own (no test or other tool uses them).
INTAKE_PERIOD = 2079  # the clock stands in 2079 before its deadline: amendments are open
E2E_PERIOD = 2078  # late first reports (accepted: a first report is never refused as late)
PIPELINE_PERIODS = tuple(range(2070, 2078))  # events go straight onto the topic
REPLAY_PERIOD = 2069  # a season's events on the topic, then rescored and rebuilt
LOAD_PERIODS = tuple(range(2000, REPLAY_PERIOD))  # first reports under an open-loop load
CLOCK = "2079-06-02T09:00:00+07:00"

CRITERIA = {"ministry": ["M1", "M2", "M3", "M4"], "province": ["P1", "P2", "P3", "P4"],
            "police": ["P1", "P2", "P3", "P4"], "front": ["F1", "F2", "F3", "F4"],
            "organization": ["O1", "O2"], "individual": ["I1"]}  # one person group (5a)


def _example(name: str) -> dict[str, Any]:
    path = ROOT / "schemas" / "examples" / f"{name}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


@cache
def units(period: int = INTAKE_PERIOD) -> tuple[str, ...]:
    """The registry's units of a period, in a stable order."""
    from services.submissions.registry import load_registry

    return tuple(sorted(u.unit_id for u in load_registry().units(period)))


def request_body(unit_id: str, period: int, salt: int) -> dict[str, Any]:
    """The example request adapted to `unit_id` (its type's criteria); `salt` changes
    one indicator so every request is a new revision, not an idempotent replay."""
    body = copy.deepcopy(_example("submission-request"))
    body["unit_id"], body["period"] = unit_id, period
    ids = CRITERIA[unit_id.split(":")[0]]
    body["self_assessment"] = {c: {"rating": 7 + i % 3} for i, c in enumerate(ids)}
    contents = body["contents"]
    first = next(iter(contents))
    contents[first].setdefault("indicators", {})["bench_salt"] = salt
    return body


def accepted_event(unit_id: str, period: int, revision: int, tag: str) -> dict[str, Any]:
    """A vn.emulation.submission.accepted envelope as the submissions service writes
    it (schemas/events/submission-accepted.v1.json), for `unit_id` and `period`."""
    event = copy.deepcopy(_example("submission-accepted"))
    sid = f"bench-{tag}-{unit_id.replace(':', '-')}-{period}-r{revision}"
    now = datetime.now(UTC).isoformat()
    content = request_body(unit_id, period, revision)
    event.update(id=sid, subject=unit_id, time=now)
    event["data"].update(
        submission_id=sid, unit_id=unit_id, period=period, revision=revision,
        received_at=now, deadline=f"{period}-11-30T16:59:59+00:00",
        unit_type=unit_id.split(":")[0], supersedes=None, content=content, changed_paths=[])
    return event


def encoded(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
