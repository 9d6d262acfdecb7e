"""An operator action that runs as a job (a rebuild, a rescore): started, its job id
written into the action's audit record, and its address given in the `Location` header
(`GET /v1/admin/jobs/{id}` says how it goes, then its result)."""

from __future__ import annotations

from fastapi import Response

from services.common.audit import Action
from services.common.jobs import Failure, JobRead, Jobs, R, Work


def start_job(jobs: Jobs, kind: str, work: Work[R], failure: Failure, *, action: Action,
              response: Response) -> JobRead:
    """Start `work` as a job of `kind` (the caller checked none of its kind runs) and
    answer with it; the audit record of `action` names the job."""
    job = jobs.start(kind, work, failure)
    action.after = {"job": job.id}  # its outcome: GET /v1/admin/jobs/{id}
    response.headers["Location"] = f"/v1/admin/jobs/{job.id}"
    return JobRead.of(job)
