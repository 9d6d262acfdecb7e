"""The pure parts of the benchmarks' open-loop load (bench/openloop.py) and of the replay
phase (bench/replay.py): the send schedule, the sampling, the arrivals' bookkeeping, the
job's progress lines, and the replayed events (valid, or a replay would skip them)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench import openloop, replay
from bench.openloop import Arrivals, pairs, sampled, schedule
from bench.replay import JobRun, Sample
from services.common import schemas
from services.common.envelope import parse_event


def test_schedule_is_one_request_every_period_bounded_by_the_limit() -> None:
    assert schedule(100, 0.05, 1000) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
    assert len(schedule(100, 30, 3000)) == 3000
    assert len(schedule(100, 60, 3000)) == 3000  # the limit wins
    assert schedule(0, 10, 10) == [] and schedule(10, 0, 10) == [] and schedule(10, 1, 0) == []


def test_sampled_takes_every_kth_from_the_first() -> None:
    assert sampled(25, 10) == {0, 10, 20}
    assert sampled(3, 1) == {0, 1, 2}
    assert sampled(3, 0) == {0, 1, 2}  # nonsense step: every request


def test_pairs_are_distinct_and_follow_each_periods_units() -> None:
    units = {2000: ["a", "b"], 2001: ["a", "c", "d"]}
    got = list(pairs([2000, 2001], lambda p: units[p]))
    assert got == [("a", 2000), ("b", 2000), ("a", 2001), ("c", 2001), ("d", 2001)]
    assert len(set(got)) == len(got)


def test_arrivals_time_each_followed_unit_once() -> None:
    a = Arrivals()
    a.expect("u1|2000", 10.0, 10.1)
    a.expect("u2|2000", 11.0, 11.5)
    a.found(["u1|2000", "stranger|2000"], 10.4)
    a.found(["u1|2000"], 12.0)  # seen again later: the first sighting counts
    assert a.pending == ["u2|2000"]
    assert a.latencies() == pytest.approx([0.4])
    assert a.after_answer() == pytest.approx([0.3])
    assert a.unseen(20.0) == pytest.approx([9.0])


def test_poll_asks_for_the_pending_units_only_until_told_to_stop() -> None:
    a = Arrivals()
    for key in ("x", "y"):
        a.expect(key, 0.0, 0.0)
    asked: list[list[str]] = []

    async def find(ids: list[str]) -> list[str]:
        asked.append(sorted(ids))
        return ids[:1]  # one arrives per poll

    asyncio.run(openloop.poll(a, find, lambda: not a.pending))
    assert asked == [["x", "y"], ["y"]]
    assert a.pending == [] and len(a.latencies()) == 2


def test_load_run_rates() -> None:
    run = openloop.LoadRun(offered=100, sent=101, send_seconds=1.0, elapsed=2.0, late_max=0)
    run.statuses.update({202: 90, 429: 11})
    assert run.sent_rate == pytest.approx(100)
    assert run.accepted_rate == pytest.approx(45)
    assert openloop.LoadRun(offered=1, sent=1, send_seconds=0, elapsed=0,
                            late_max=0).sent_rate == 0


def test_progress_keeps_the_moves_first_and_last() -> None:
    samples = [Sample(0.5, "starting", 0, None), Sample(1.0, "replaying", 500, None),
               Sample(1.5, "replaying", 500, None), Sample(2.0, "scoring", 0, 34),
               Sample(2.5, "scoring", 34, 34), Sample(3.0, "done", 34, 34)]
    assert [s.at for s in replay.progress(samples)] == [0.5, 1.0, 2.0, 2.5, 3.0]
    many = [Sample(float(i), "replaying", i, 100) for i in range(100)]
    thinned = replay.progress(many, at_most=5)
    assert [s.done for s in thinned] == [0, 25, 50, 74, 99]
    assert replay.progress([]) == []


def test_describe_says_whether_the_job_ended() -> None:
    done = JobRun("rebuild", seconds=12.5, state="succeeded",
                  samples=[Sample(12.5, "done", 9, 9)], result={"applied": {"t": 9}})
    assert describe_starts(done, "rebuild finished in 12.5 s")
    assert "done 9/9" in replay.describe(done, 600)
    slow = JobRun("rescore", samples=[Sample(600.2, "replaying", 1500, None)])
    assert describe_starts(slow, "rescore not finished in 600 s")
    failed = JobRun("rescore", state="failed", error={"detail": "Kafka away"})
    assert describe_starts(failed, "rescore failed: {'detail': 'Kafka away'}")
    assert "none seen" in replay.describe(failed, 600)


def describe_starts(job: JobRun, head: str) -> bool:
    return replay.describe(job, 600).startswith(head)


def test_replayed_events_are_valid_rising_revisions_of_one_period() -> None:
    records = replay.records(250, period=2069)
    revisions: dict[str, list[int]] = {}
    for key, value in records:
        event = parse_event(value)
        assert event.type == "vn.emulation.submission.accepted"
        assert schemas.errors(f"{event.schema_name}.v{event.schema_version}",
                              event.to_dict()) == []
        data = json.loads(value)["data"]
        assert data["period"] == 2069 and data["unit_id"] == key.decode()
        revisions.setdefault(key.decode(), []).append(data["revision"])
    assert len(revisions) == 100  # every unit of 2069
    assert all(r == sorted(r) and r[0] == 1 for r in revisions.values())
    assert max(max(r) for r in revisions.values()) == 3
