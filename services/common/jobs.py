"""Long operator actions (a rescore, a rebuild) as jobs: the request that starts one is
answered at once (202, `Location: /v1/admin/jobs/{id}`), and the job resource tells its
stage, its progress, and its result or error. Jobs live in the process that runs them
(they are its work, not shared state): a restart ends a running job as `interrupted`
from the client's point of view (404), and the operator starts it again (both actions
are idempotent)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypedDict, TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from services.common.http import AdminPrincipal
from services.common.pagination import PAGED, Paging, next_link, page_of_items
from services.common.problems import Problem

log = logging.getLogger(__name__)
State = Literal["running", "succeeded", "failed"]
R = TypeVar("R")  # a job's result: its action's summary (a rescore's, a rebuild's)


class JobFailure(TypedDict):
    """Why a job failed, as the problem its request would have answered."""
    status: int
    code: str
    detail: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Job(Generic[R]):
    kind: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: State = "running"
    stage: str = "starting"
    done: int = 0
    total: int | None = None
    result: R | None = None
    error: JobFailure | None = None
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None

    def progress(self, stage: str, done: int, total: int | None = None) -> None:
        self.stage, self.done, self.total = stage, done, total


class JobRead(BaseModel):
    id: str
    kind: str
    state: State
    stage: str
    done: int
    total: int | None
    result: dict[str, Any] | None  # the API's schema: an object (each action its own)
    error: dict[str, Any] | None  # a JobFailure
    started_at: str
    finished_at: str | None

    @classmethod
    def of(cls, job: Job[Any]) -> JobRead:
        return cls.model_validate(job, from_attributes=True)


Work = Callable[[Job[R]], Awaitable[R]]
Failure = Callable[[Exception], JobFailure]


class Jobs:
    """This process's jobs, the last `keep` of them; one running job of each kind."""

    def __init__(self, keep: int = 50) -> None:
        self.keep = keep
        self._jobs: OrderedDict[str, Job[Any]] = OrderedDict()  # of every kind
        self._tasks: set[asyncio.Task[None]] = set()
        self._ended: dict[str, asyncio.Event] = {}

    def running(self, kind: str) -> Job[Any] | None:
        return next((j for j in self._jobs.values()
                     if j.kind == kind and j.state == "running"), None)

    def start(self, kind: str, work: Work[R], failure: Failure) -> Job[R]:
        """Start `work` as a job now (the caller checked nothing of its kind runs)."""
        job: Job[R] = Job(kind=kind)
        self._jobs[job.id] = job
        ended = self._ended[job.id] = asyncio.Event()
        while len(self._jobs) > self.keep:
            oldest = next(iter(self._jobs.values()))
            if oldest.state == "running":
                break
            self._ended.pop(self._jobs.popitem(last=False)[0], None)

        async def run() -> None:
            try:
                job.result = await work(job)
                job.state, job.stage = "succeeded", "done"
            except Exception as exc:
                job.state, job.error = "failed", failure(exc)
                log.warning("job failed", extra={"fields": {"job": job.id, "kind": kind,
                                                             "error": repr(exc)[:300]}})
            finally:
                job.finished_at = _now()
                ended.set()

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str) -> Job[Any] | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job[Any]]:
        return list(reversed(self._jobs.values()))

    async def wait(self, job_id: str) -> Job[Any]:
        """For tests and the CLI: until the job ends."""
        await self._ended[job_id].wait()
        return self._jobs[job_id]


def job_router(jobs: Jobs) -> APIRouter:
    router = APIRouter(prefix="/v1/admin", tags=["ops"])

    @router.get("/jobs/{job_id}", response_model=JobRead,
                responses={404: {"description": "no such job in this process"}})
    async def get_job(job_id: str, _: AdminPrincipal) -> JobRead:
        """A job's stage, progress (`done` of `total`), and its result or error."""
        job = jobs.get(job_id)
        if job is None:
            raise Problem(404, "not-found", f"no job {job_id} in this process (finished "
                          "long ago, or the service restarted: start it again)")
        return JobRead.of(job)

    @router.get("/jobs", response_model=list[JobRead], responses=PAGED)
    async def list_jobs(_: AdminPrincipal, page: Paging, request: Request,
                        response: Response) -> list[JobRead]:
        """This process's recent jobs, newest first (paged: the `Link` header)."""
        chosen, after = page_of_items(jobs.all(), lambda j: (j.started_at, j.id), page,
                                      descending=True)
        next_link(request, response, after, page.limit)
        return [JobRead.of(j) for j in chosen]

    return router
