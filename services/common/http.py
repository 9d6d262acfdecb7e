"""The FastAPI shape every service shares: problem details for every error, a body
size limit, one safe JSON parse of every body, an in-flight limit for expensive routes,
request metrics, /healthz, /livez, /readyz, /metrics and the operator clock."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import inputs, metrics
from services.common.audit import CURSOR, REASON_HEADER, Action, MemoryAuditLog, TargetValue
from services.common.auth import Principal, TokenRefused, TokenStore
from services.common.backoff import MAX_RETRY_AFTER, MIN_RETRY_AFTER, bounded
from services.common.clock import Clock, ControlledClock
from services.common.errors import Refused
from services.common.inputs import PlatformDateTime
from services.common.mongo import TRANSIENT_ERRORS
from services.common.pagination import PAGED, next_link
from services.common.problems import Problem, problem_for, problem_response
from services.common.telemetry import instrument_app
from services.common.watch import NoConsumers, Verdict

log = logging.getLogger(__name__)
ReadinessCheck = Callable[[], Awaitable[None]]
# Where JsonGuard leaves the parsed body in the request's scope, for `json_body`.
PARSED_BODY = "emulation.json_body"
# Where an operator action's dependency leaves its `Action`, for the audit trail.
AUDIT_ACTION = "emulation.audit_action"


def _always_live() -> Verdict:
    return Verdict(live=True, detail=NoConsumers())


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class RouteQueueLimit:
    """Past `limit` requests of one route in progress in this process, counted from their
    first byte (uploading, waiting for the event loop, being processed), the next is
    answered 429 at once, before its body is read or any other layer runs: the cheap
    refusal that keeps an overloaded process's latency bounded. The route's in-flight
    limit (InflightLimit, after the body) counts only the requests being processed, so
    without this, requests offered faster than the process can even read them queue in
    front of its event loop and wait there for tens of seconds (docs/benchmarks.md,
    `e2e-load`). Outermost: add it last. The advice comes from `inflight`."""

    def __init__(self, app: ASGIApp, *, method: str, path: str, limit: int,
                 inflight: InflightLimit) -> None:
        self.app, self.method, self.path, self.limit = app, method, path, limit
        self.inflight, self.active = inflight, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") != self.method
                or scope.get("path") != self.path):
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            metrics.HTTP_SHED.labels(self.path).inc()
            retry_after = self.inflight.refused()
            resp = problem_response(
                429, "too-many-requests",
                f"more than {self.limit} requests of this kind are waiting or in progress; "
                f"retry after {retry_after} s", headers={"Retry-After": str(retry_after)},
                limit=self.limit)
            await resp(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413 before the route reads them, and ends
    an upload still incomplete `read_timeout` seconds after its headers with 408 (and the
    connection closed): a client sending slowly holds a connection, never the route."""

    def __init__(self, app: ASGIApp, limit: int, read_timeout: float = 30.0) -> None:
        self.app, self.limit, self.read_timeout = app, limit, read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            resp = problem_response(413, "body-too-large",
                                    f"request body over the limit of {self.limit} bytes",
                                    limit=self.limit)
            await resp(scope, receive, send)
            return
        seen, complete = 0, False
        deadline = time.monotonic() + self.read_timeout

        async def limited() -> Message:
            nonlocal seen, complete
            if complete:
                # Later calls wait for a disconnect, however long the answer takes.
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                metrics.HTTP_READ_TIMEOUTS.inc()
                raise Problem(408, "request-timeout",
                              f"the request body did not arrive within {self.read_timeout:g} "
                              "s; send it again faster", headers={"Connection": "close"},
                              timeout_seconds=self.read_timeout) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.limit:
                    raise Problem(413, "body-too-large",
                                  f"request body over the limit of {self.limit} bytes")
            else:
                complete = True
            return message

        await self.app(scope, limited, send)


class JsonGuard:
    """Reads every JSON body (or one without a content type) through `inputs.parse_body`
    before any route sees it: a body the platform cannot hold is refused here with a
    problem naming the field, whatever the route would do with it. The bytes are then
    replayed to the route unchanged, and the parsed value is left for `json_body`."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _json_media(dict(scope.get("headers") or [])):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()  # BodyLimit's 413 is raised here, as in a route
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        if raw:
            try:
                scope[PARSED_BODY] = await inputs.parse_body(raw)
            except Problem as exc:
                self._name_route(scope)
                resp = problem_response(exc.status, exc.code, exc.detail,
                                        instance=scope.get("path"), **exc.extra)
                await resp(scope, receive, send)
                return
        await self.app(scope, _replay(
            [{"type": "http.request", "body": raw, "more_body": False}], receive), send)

    def _name_route(self, scope: Scope) -> None:
        # A refusal is counted and traced under its route, as the route's own would be.
        for route in self.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                scope["route"] = child.get("route", route)
                return


def _json_media(headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-type")
    if declared is None:
        return True
    media = declared.split(b";")[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()
    return replayed


async def json_body(request: Request) -> Any:
    """The request's JSON body as JsonGuard parsed it (or parsed now, whatever the
    content type said), by the same rules; Problem when it is refused."""
    if PARSED_BODY in request.scope:
        return request.scope[PARSED_BODY]
    return await inputs.parse_body(await request.body())


class InflightLimit:
    """At most `limit` requests of one kind in progress at once; the next one is refused
    at once with 429 and Retry-After (never queued, never left hanging), so a burst
    meets back-pressure instead of piling work onto the database until it times out.

    Retry-After is the time the route needs to serve those waiting: the requests in
    progress plus those refused within the last advised Retry-After (each comes back
    about once in that time), at `limit` at once, each taking as long as recent ones
    took (a moving average)."""

    def __init__(self, route: str, limit: int, *, min_retry_after: int = MIN_RETRY_AFTER,
                 max_retry_after: int = MAX_RETRY_AFTER,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self.route, self.limit = route, limit
        self.min_retry_after, self.max_retry_after = min_retry_after, max_retry_after
        self.inflight = 0
        self._monotonic = monotonic
        self.service_seconds = 1.0  # until a request has been measured
        self._measured = False
        # When requests were refused lately (bounded: past it the advice is the maximum).
        self._refused: collections.deque[float] = collections.deque(maxlen=10_000)
        self._advised = min_retry_after

    def refused(self) -> int:
        """Count a refusal (here or by a RouteQueueLimit in front); the advised wait."""
        self._refused.append(self._monotonic())
        return self.retry_after()

    def retry_after(self) -> int:
        """Seconds until the route has served those waiting now."""
        now = self._monotonic()
        while self._refused and self._refused[0] < now - self._advised:
            self._refused.popleft()
        waiting = self.inflight + len(self._refused)
        self._advised = bounded(waiting * self.service_seconds / self.limit,
                                self.min_retry_after, self.max_retry_after)
        return self._advised

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one place for the body of the `with`; raise Problem(429) if none is free.
        No await between the check and the increment: one event loop, no race."""
        if self.inflight >= self.limit:
            metrics.HTTP_SHED.labels(self.route).inc()
            retry_after = self.refused()
            raise Problem(429, "too-many-requests",
                          f"more than {self.limit} requests of this kind are in progress; "
                          f"retry after {retry_after} s",
                          headers={"Retry-After": str(retry_after)}, limit=self.limit)
        self.inflight += 1
        metrics.HTTP_INFLIGHT.labels(self.route).set(self.inflight)
        started = self._monotonic()
        try:
            yield
        finally:
            self.inflight -= 1
            metrics.HTTP_INFLIGHT.labels(self.route).set(self.inflight)
            took = self._monotonic() - started
            # The first measure replaces the guess; later ones move the average.
            self.service_seconds = (took if not self._measured
                                    else 0.8 * self.service_seconds + 0.2 * took)
            self._measured = True


def _problem_in(exc: BaseException) -> Problem | None:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _problem_in(inner)) is not None:
                return found
    return None


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details: every error of every service",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "properties": {"field": {"type": "string"},
                                             "message": {"type": "string"}}}},
    },
}


def with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document says what the errors are: every 4xx and 5xx an operation
    declares is `application/problem+json` with the problem schema (FastAPI's default
    422 says `application/json` with its own validation error, which no route sends)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                if code[:1] in ("4", "5"):
                    response["content"] = problem
                    if code == "422":
                        response["description"] = "invalid: a problem naming each field"
    return schema


def declare_problems(app: FastAPI) -> None:
    """The app's OpenAPI document `with_problems`."""
    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = with_problems(get_openapi(
                title=app.title, version=app.version, routes=app.routes,
                description=app.description))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    *, title: str, lifespan: Lifespan, tokens: TokenStore, clock: Clock,
    readiness: Mapping[str, ReadinessCheck], max_body_bytes: int, version: str = "1",
    body_read_timeout: float = 30.0,
    liveness: Callable[[], Verdict] = _always_live,
    audit: Any = None, service_name: str | None = None,
) -> FastAPI:
    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.tokens, app.state.clock = tokens, clock
    # The service's audit trail (services/common/audit.py); in memory for unit tests.
    app.state.audit = audit if audit is not None else MemoryAuditLog()
    app.state.service_name = service_name or title
    declare_problems(app)
    # Inside `observe` (added after it), so its refusals are counted and traced.
    app.add_middleware(JsonGuard, routes=app.router.routes)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        # The server span is the FastAPI instrumentation's (`instrument_app` below, the
        # outermost layer): here the request metrics and the audit record.
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:
            # The body limit raises from inside the route's read of the body, which
            # Starlette runs in a task group: its Problem arrives wrapped.
            problem = _problem_in(exc)
            if problem is not None:
                response = problem_response(problem.status, problem.code, problem.detail,
                                            headers=problem.headers, **problem.extra)
            else:
                log.exception("unhandled error")
                response = problem_response(500, "internal", "internal error; it was logged")
        route = _route_of(request)
        action: Action | None = request.scope.get(AUDIT_ACTION)
        if action is not None:
            await _write_audit(request, action, response.status_code)
        if route not in ("/metrics",):
            metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
            metrics.HTTP_LATENCY.labels(request.method, route).observe(
                time.perf_counter() - started)
        return response

    app.add_middleware(BodyLimit, limit=max_body_bytes, read_timeout=body_read_timeout)
    instrument_app(app)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, instance=request.url.path,
                                headers=exc.headers, **exc.extra)

    @app.exception_handler(Refused)
    async def on_refused(request: Request, exc: Refused) -> JSONResponse:
        return await on_problem(request, problem_for(exc))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": "/".join(str(p) for p in e.get("loc", ()) if p != "body") or "(body)",
             "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(422, "invalid-request", detail or "invalid request",
                                instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, "http-" + str(exc.status_code),
                                str(exc.detail), instance=request.url.path,
                                headers=dict(exc.headers or {}))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/livez", tags=["ops"])
    async def livez() -> JSONResponse:
        """Fails when the consumers stalled for longer than the setting: restart me."""
        verdict = liveness()
        if verdict.live:
            return JSONResponse({"status": "live", "consumers": verdict.detail})
        return problem_response(503, "consumer-stalled", "; ".join(verdict.problems)
                                or "a consumer stalled", consumers=verdict.detail)

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in readiness.items():
            try:
                await asyncio.wait_for(check(), 5.0)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failed: {exc!r}"[:300]
        ok = all(v == "ok" for v in results.values())
        consumers = liveness().detail
        if ok:
            return JSONResponse({"status": "ready", "checks": results, "consumers": consumers})
        return problem_response(503, "not-ready", "a dependency is not reachable",
                                checks=results, consumers=consumers)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/audit", tags=["ops"], response_model=AuditPage, responses=PAGED)
    async def audit_trail(
        _: AdminPrincipal, request: Request, response: Response,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(
            pattern=CURSOR.pattern, description="`next_cursor` of the previous page")] = None,
    ) -> AuditPage:
        """This service's audit trail, newest first (admin): who did what, to what, why,
        when, with the outcome and the state before and after where it is known."""
        records, next_cursor = await app.state.audit.page(limit, cursor)
        next_link(request, response, next_cursor, limit)
        return AuditPage(records=[{"id": r["_id"], **{k: v for k, v in r.items()
                                                         if k != "_id"}} for r in records],
                         next_cursor=next_cursor)

    if isinstance(clock, ControlledClock):
        app.include_router(clock_router(clock))
    return app


class AuditPage(BaseModel):
    records: list[dict[str, Any]]
    next_cursor: str | None


async def _write_audit(request: Request, action: Action, status: int) -> None:
    """Append the action's record with its outcome. A record that cannot be written is
    logged with everything it held (the action itself was done or refused already)."""
    ctx = trace.get_current_span().get_span_context()
    trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else None
    record = action.record(request.app.state.service_name, status, trace_id=trace_id)
    try:
        try:
            await request.app.state.audit.append(record)
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            # A state the database refuses: the record without it, its text kept.
            await request.app.state.audit.append({
                **record, "before": repr(record["before"])[:2000],
                "after": repr(record["after"])[:2000]})
    except Exception:
        metrics.AUDIT_WRITE_FAILURES.inc()
        log.exception("audit record not written", extra={"fields": {
            "audit": {k: v for k, v in record.items() if k not in ("before", "after")}}})


# -- authentication -------------------------------------------------------------------

async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthenticated", "a bearer token is required",
                      headers={"WWW-Authenticate": "Bearer"})
    try:
        principal: Principal | None = request.app.state.tokens.check(token.strip())
    except TokenRefused as exc:
        said = "has expired" if exc.why == "expired" else "was revoked"
        raise Problem(401, "unauthenticated", f"the bearer token {said}; ask for a new one",
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                      reason=exc.why) from exc
    if principal is None:
        raise Problem(401, "unauthenticated", "the bearer token is not valid",
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _needs(principal: Principal, role: str) -> Principal:
    if not principal.has_role(role):
        raise Problem(403, "forbidden", f"this needs an account with the {role} role"
                      + (" (or higher)" if role != "admin" else ""), role=role)
    return principal


async def viewer_principal(principal: CurrentPrincipal) -> Principal:
    return _needs(principal, "viewer")


async def operator_principal(principal: CurrentPrincipal) -> Principal:
    return _needs(principal, "operator")


async def admin_principal(principal: CurrentPrincipal) -> Principal:
    return _needs(principal, "admin")


# Reads (GET) for accounts: viewer reads reports and the dashboard, etc.
ViewerPrincipal = Annotated[Principal, Depends(viewer_principal)]
# The year a read is about (`?period=`), in every service's API.
Period = Annotated[int, Query(ge=2000, le=2100, description="the year")]
OperatorPrincipal = Annotated[Principal, Depends(operator_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]

REASON_RULE = (f"why, for the audit trail: the body's `reason` where the route has one, "
               f"else the `{REASON_HEADER}` header (percent-encoded UTF-8), 3 to 1000 "
               "characters")


def _reason(request: Request) -> str:
    body = request.scope.get(PARSED_BODY)
    given = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(given, str) or not given.strip():
        given = urllib.parse.unquote(request.headers.get(REASON_HEADER, ""), errors="strict")
    # A lone surrogate (JSON allows one) is kept as its escape: the record must be stored.
    given = given.strip().encode("utf-8", "backslashreplace").decode("utf-8")
    if not 3 <= len(given) <= 1000:
        raise Problem(422, "reason-required", "an operator action needs a reason: "
                      + REASON_RULE, errors=[{"field": REASON_HEADER,
                                              "message": "3 to 1000 characters"}])
    return given


def account_action(request: Request, principal: Principal, role: str) -> Action:
    """For a route both units and accounts call (a submission): an account's call is an
    action, with the role, a reason and an audit record; a unit's is its own business."""
    return _action(request, principal, role)


def _action(request: Request, principal: Principal, role: str) -> Action:
    _needs(principal, role)
    try:
        reason = _reason(request)
    except UnicodeDecodeError as exc:
        raise Problem(422, "reason-required", f"the {REASON_HEADER} header is not "
                      "percent-encoded UTF-8") from exc
    route = _route_of(request)
    endpoint = request.scope.get("endpoint")
    target: dict[str, TargetValue] = dict(request.path_params)
    body = request.scope.get(PARSED_BODY)
    period = request.query_params.get("period") or (
        body.get("period") if isinstance(body, dict) else None)
    if period is not None:
        target["period"] = period
    action = Action(principal=principal, reason=reason,
                    action=getattr(endpoint, "__name__", route), route=route,
                    method=request.method, path=request.url.path, target=target)
    request.scope[AUDIT_ACTION] = action
    return action


# Documents the header in every action's OpenAPI operation; `_reason` reads it.
ReasonHeader = Annotated[str | None, Header(alias=REASON_HEADER, description=REASON_RULE)]


async def operator_action(request: Request, principal: CurrentPrincipal,
                          _reason_header: ReasonHeader = None) -> Action:
    """An operator's action (unlocks, campaigns, conference records): audited, with a
    reason."""
    return _action(request, principal, "operator")


async def admin_action(request: Request, principal: CurrentPrincipal,
                       _reason_header: ReasonHeader = None) -> Action:
    """An admin's action (rescore, rebuild, provider resets, the clock): audited."""
    return _action(request, principal, "admin")


OperatorAction = Annotated[Action, Depends(operator_action)]
AdminAction = Annotated[Action, Depends(admin_action)]


def ensure_access(principal: Principal, unit_id: str) -> None:
    if not principal.may_access(unit_id):
        raise Problem(403, "forbidden", f"this credential may not act for {unit_id}")


# -- the operator clock -----------------------------------------------------------------

class ClockSet(BaseModel):
    now: PlatformDateTime
    frozen: bool = False


class ClockRead(BaseModel):
    now: datetime
    controllable: bool


def clock_router(clock: ControlledClock) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/v1/admin/clock", response_model=ClockRead)
    async def read_clock(_: ViewerPrincipal) -> ClockRead:
        return ClockRead(now=clock.now(), controllable=True)

    @router.put("/v1/admin/clock", response_model=ClockRead)
    async def set_clock(body: ClockSet, action: AdminAction) -> ClockRead:
        """Set the service's clock (tests and the demo only; admin, audited)."""
        action.before = {"now": clock.now()}
        try:
            clock.set(body.now, frozen=body.frozen)
        except ValueError as exc:
            raise Problem(422, "invalid-request", str(exc)) from exc
        action.after = {"now": clock.now(), "frozen": body.frozen}
        return ClockRead(now=clock.now(), controllable=True)

    return router


