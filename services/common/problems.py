"""RFC 9457 problem details: the one error shape of every endpoint."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, NotRequired, TypedDict

from fastapi.responses import JSONResponse

from services.common.errors import Refusal, Refused

PROBLEM_BASE = "urn:emulation:problem:"

# The one place a domain refusal gets its HTTP status.
REFUSAL_STATUS: dict[Refusal, int] = {
    Refusal.INVALID: 422,
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
}


class ProblemBody(TypedDict):
    """The RFC 9457 members of a problem body; a problem's extras are merged after them
    (`errors`, `checks`, `consumers`, what a refusal adds: open, as the refusals')."""
    type: str
    title: str
    status: int
    detail: str
    instance: NotRequired[str]


class Problem(Exception):
    """Raise anywhere below a route to answer with a problem body."""

    def __init__(
        self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int, code: str, detail: str, *, instance: str | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    body: ProblemBody = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    return JSONResponse({**body, **extra}, status_code=status,
                        media_type="application/problem+json", headers=headers)


def problem_for(exc: Refused, *, headers: dict[str, str] | None = None) -> Problem:
    """The problem that answers a domain refusal (raise it, or hand it to the handler)."""
    return Problem(REFUSAL_STATUS[exc.kind], exc.code, exc.detail, headers=headers,
                   **exc.extra)
