"""Jobs for long operator actions, and the CLI's progress bar."""

from __future__ import annotations

import asyncio
import io

from services.common.jobs import Job, JobFailure, Jobs
from services.common.progress import ProgressBar


def test_a_job_reports_its_progress_then_its_result_or_its_error() -> None:
    async def scenario() -> tuple[Job[dict[str, int]], Job[dict[str, int]], list[str]]:
        jobs = Jobs(keep=2)
        gate = asyncio.Event()
        seen: list[str] = []

        def failure(exc: Exception) -> JobFailure:
            return {"status": 500, "code": "failed", "detail": str(exc)}

        async def work(job: Job[dict[str, int]]) -> dict[str, int]:
            job.progress("replaying", 5, 10)
            await gate.wait()
            return {"rescored": 10}

        async def broken(job: Job[dict[str, int]]) -> dict[str, int]:
            raise RuntimeError("Kafka away")

        ok = jobs.start("rescore", work, failure)
        await asyncio.sleep(0)
        seen.append(f"{ok.state} {ok.stage} {ok.done}/{ok.total}")
        assert jobs.running("rescore") is ok and jobs.running("rebuild") is None
        bad = jobs.start("rebuild", broken, failure)
        gate.set()
        await jobs.wait(ok.id)
        await jobs.wait(bad.id)
        jobs.start("rebuild", broken, failure)  # the oldest goes
        assert jobs.get(ok.id) is None and len(jobs.all()) == 2
        return ok, bad, seen

    ok, bad, seen = asyncio.run(scenario())
    assert seen == ["running replaying 5/10"]
    assert (ok.state, ok.stage, ok.result) == ("succeeded", "done", {"rescored": 10})
    assert ok.finished_at is not None
    assert (bad.state, bad.error) == ("failed", {"status": 500, "code": "failed",
                                        "detail": "Kafka away"})


def test_the_progress_bar_draws_on_a_terminal_and_writes_lines_elsewhere() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = ProgressBar(tty, every=0)
    bar("scoring", 5, 10)
    bar("scoring", 10, 10)
    bar.close()
    assert "\rscoring: [###############...............] 5/10 (50%)" in tty.getvalue()
    assert tty.getvalue().endswith("10/10 (100%)    \n")
    log = io.StringIO()
    bar = ProgressBar(log)
    bar("replaying", 500)
    bar("replaying", 1000)  # within a second of the last line: not written
    bar("scoring", 3, 3)
    assert log.getvalue().splitlines() == ["replaying: 500",
                                           "scoring: [" + "#" * 30 + "] 3/3 (100%)"]
