"""HTTP entrypoints of the submissions service: thin, they call the intake."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common import schemas
from services.common.audit import Action
from services.common.auth import Principal
from services.common.backoff import JITTER_ADVICE, MAX_RETRY_AFTER, MIN_RETRY_AFTER
from services.common.http import (
    CurrentPrincipal,
    InflightLimit,
    OperatorAction,
    Period,
    account_action,
    ensure_access,
    json_body,
)
from services.common.pagination import PAGED, Paging, next_link, page_of_items
from services.common.problems import Problem, problem_for
from services.submissions import domain
from services.submissions.domain import SubmissionRefused
from services.submissions.models import Submission
from services.submissions.service import Intake, Unavailable, receipt_of

RETRY_AFTER_HEADER = {"description": "seconds to wait before retrying, from the service's "
                                     "state (add jitter: see the response's description)",
                      "schema": {"type": "integer", "minimum": MIN_RETRY_AFTER,
                                 "maximum": MAX_RETRY_AFTER}}


class ReceiptRead(BaseModel):
    submission_id: str
    unit_id: str
    period: int
    revision: int
    on_time: bool
    received_at: datetime
    deadline: datetime
    supersedes: str | None = None
    movement: Literal["toan-dan", "vi-an-ninh"] = Field(
        description="the movement the submission belongs to (its unit type's)")


class ChangeRead(BaseModel):
    path: str
    op: str
    before: Any = None
    after: Any = None


class SubmissionRead(ReceiptRead):
    status: Literal["accepted", "pending"] = Field(
        description="accepted: stored and on Kafka (a receipt was or can be given); pending: "
                    "stored while Kafka was unreachable, published by the relay shortly")
    content: dict[str, Any]
    changes: list[ChangeRead] = Field(
        default_factory=list, description="what changed since the previous revision")


class UnitRead(BaseModel):
    unit_id: str
    name: str
    name_en: str
    type: str
    cluster_id: str | None
    successor: str | None = None


class UnlockCreate(BaseModel):
    period: int = Field(ge=2000, le=2100)
    reason: str = Field(min_length=3, max_length=1000)
    hours: float = Field(default=72, gt=0, le=24 * 90)


class LockCreate(BaseModel):
    period: int = Field(ge=2000, le=2100)
    reason: str = Field(min_length=3, max_length=1000)


class UnlockRead(BaseModel):
    unit_id: str
    period: int
    reason: str
    granted_at: datetime
    expires_at: datetime | None
    locked_reason: str | None = None


KEY_RULE = (
    "Makes a retry safe: the same key is the same submission (its receipt again; another "
    "body with it is 409). Without a key, the body of the revision in force sent again is "
    "that revision, and any other body a new revision (A, B, then A again: revision 3).")


def build_router(intake: Intake, inflight: InflightLimit) -> APIRouter:
    """`inflight` is the back-pressure on the expensive way in: past it, 429 at once."""
    router = APIRouter(prefix="/v1", tags=["submissions"])

    @router.post(
        "/submissions", status_code=202, response_model=ReceiptRead,
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/SubmissionRequest"}}}}},
        responses={409: {"description": "key reused with another body, or deadline rules"},
                   422: {"description": "invalid submission"},
                   408: {"description": "the body did not arrive within the read timeout; "
                                        "send it again"},
                   429: {"description": "too many submissions in progress (Retry-After: "
                                        "the time to serve those waiting). " + JITTER_ADVICE,
                         "headers": {"Retry-After": RETRY_AFTER_HEADER}},
                   503: {"description": "the store or Kafka is unavailable (Retry-After grows "
                                        "with how long it has been away). " + JITTER_ADVICE,
                         "headers": {"Retry-After": RETRY_AFTER_HEADER}}},
    )
    async def submit(
        request: Request, principal: CurrentPrincipal,
        idempotency_key: Annotated[str | None, Header(
            max_length=200, pattern=r"^[\x21-\x7e]+$", description=KEY_RULE)] = None,
    ) -> JSONResponse:
        """Hand in a unit's yearly report (or an amendment). 202 means stored and published.

        Each accepted body is a revision; the latest is in force. With an
        `Idempotency-Key`, the same key is the same submission (its receipt again,
        `Idempotent-Replayed: true`; another body under it is 409). Without one, the body
        of the revision in force sent again is that revision (a retry), and any other
        body is a new revision: an earlier body sent again after a later one (A, B, A) is
        revision 3, in force. The body is JSON of at most 32 levels, with 64-bit integers,
        finite numbers and UTF-8 strings; `period` and `rating` are integers (2026, never
        2026.0)."""
        # The body first: an upload holds no slot (the body limit's read timeout ends a
        # slow one with 408), so slow clients cannot take the intake's places.
        body = await json_body(request)
        action = None
        if principal.is_operator:
            # An account handing in for a unit: an operator's action, audited.
            action = account_action(request, principal, "operator")
            if isinstance(body, dict) and isinstance(body.get("unit_id"), str):
                action.target["unit_id"] = body["unit_id"]
        with inflight.slot():
            return await _submit(body, principal, idempotency_key, action)

    async def _submit(body: Any, principal: Principal, idempotency_key: str | None,
                      action: Action | None = None) -> JSONResponse:
        if not isinstance(body, dict) or not isinstance(body.get("unit_id"), str):
            found = await schemas.errors_off_loop("submission-request.v1", body)
            raise Problem(422, "invalid-submission", "the body must be a submission object",
                          errors=[e.to_dict() for e in found[:50]])
        ensure_access(principal, body["unit_id"])
        try:
            outcome = await intake.submit(body, idempotency_key)
        except SubmissionRefused as exc:
            raise problem_for(exc) from exc
        except Unavailable as exc:
            raise Problem(503, "unavailable", str(exc),
                          headers={"Retry-After": str(exc.retry_after)}) from exc
        receipt = outcome.receipt
        if action is not None:
            action.after = {**receipt.to_dict(), "replayed": outcome.replayed}
        return JSONResponse(
            ReceiptRead(**receipt.to_dict()).model_dump(mode="json"), status_code=202,
            headers={"Location": f"/v1/submissions/{receipt.submission_id}",
                     "Idempotent-Replayed": "true" if outcome.replayed else "false"})

    @router.get("/submissions/{submission_id}", response_model=SubmissionRead)
    async def read_submission(submission_id: str, principal: CurrentPrincipal
                              ) -> SubmissionRead:
        doc = await intake.store.by_id(submission_id)
        if doc is None or not principal.may_access(doc["unit_id"]):
            # The same answer for "absent" and "not yours": ids are not probed.
            raise Problem(404, "not-found", f"no submission {submission_id}")
        return (await _reads([doc], intake))[0]

    @router.get("/units/{unit_id}/submissions", response_model=list[SubmissionRead],
                responses=PAGED)
    async def unit_submissions(unit_id: str, principal: CurrentPrincipal, page: Paging,
                               request: Request, response: Response,
                               period: Period | None = None) -> list[SubmissionRead]:
        """The unit's submissions, by period and revision (paged: the `Link` header)."""
        ensure_access(principal, unit_id)
        docs, after = await intake.store.page_for(unit_id, period, page)
        next_link(request, response, after, page.limit)
        return await _reads(docs, intake)

    @router.get("/units", response_model=list[UnitRead], responses=PAGED)
    async def units(_: CurrentPrincipal, period: Period, page: Paging, request: Request,
                    response: Response) -> list[UnitRead]:
        """The units of the period, by id (paged: the `Link` header)."""
        registry = intake.registry
        chosen, after = page_of_items(registry.units(period), lambda u: (u.unit_id,), page)
        next_link(request, response, after, page.limit)
        return [
            UnitRead(unit_id=u.unit_id, name=u.name, name_en=u.name_en, type=u.type,
                     cluster_id=registry.cluster_of(u.unit_id, period), successor=u.successor)
            for u in chosen
        ]

    @router.post("/units/{unit_id}/unlocks", status_code=201, response_model=UnlockRead)
    async def grant_unlock(unit_id: str, body: UnlockCreate, action: OperatorAction
                           ) -> UnlockRead:
        """Let a unit amend after the deadline, for a while (operator action, audited)."""
        if intake.registry.unit(unit_id) is None:
            raise Problem(404, "unknown-unit", f"unit {unit_id} is not in the registry")
        unlock = domain.unlock(unit_id, body.period, reason=body.reason,
                               now=intake.clock.now(), hours=body.hours)
        action.before = await intake.store.unlock_for(unit_id, body.period)
        action.after = await intake.store.grant_unlock(unlock)
        return UnlockRead(**unlock)

    @router.post("/units/{unit_id}/locks", status_code=201, response_model=UnlockRead)
    async def lock(unit_id: str, body: LockCreate, action: OperatorAction) -> UnlockRead:
        """Refuse every further amendment of a unit's period (operator action, audited); a
        later unlock lifts it."""
        if intake.registry.unit(unit_id) is None:
            raise Problem(404, "unknown-unit", f"unit {unit_id} is not in the registry")
        lock = domain.lock(unit_id, body.period, reason=body.reason, now=intake.clock.now())
        action.before = await intake.store.unlock_for(unit_id, body.period)
        action.after = await intake.store.grant_unlock(lock)
        return UnlockRead(**lock)

    return router


async def _reads(docs: list[Submission], intake: Intake) -> list[SubmissionRead]:
    """The documents as read: `accepted` once on Kafka, i.e. out of the outbox (one read
    by `_id` for the lot), or acknowledged by Kafka while it is taken out (after the
    answer; asked after the outbox's answer, so a mark landing between is seen)."""
    pending = await intake.store.unpublished([d["_id"] for d in docs
                                              if not d.get("published")])
    return [SubmissionRead(**receipt_of(d).to_dict(), content=d["content"],
                           status="pending" if d["_id"] in pending
                           and not intake.acknowledged(d["_id"]) else "accepted",
                           changes=d.get("changes", [])) for d in docs]


def request_schema_component() -> dict[str, Any]:
    """The JSON Schema of the request, for /openapi.json (its $defs made local)."""
    text = json.dumps(schemas.validator("submission-request.v1").schema).replace(
        '"#/$defs/', '"#/components/schemas/SubmissionRequest_')
    out = json.loads(text)
    defs = out.pop("$defs", {})
    for key in ("$schema", "$id"):
        out.pop(key, None)
    return {"SubmissionRequest": out,
            **{f"SubmissionRequest_{k}": v for k, v in defs.items()}}
