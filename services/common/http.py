"""The FastAPI shape every service shares: problem details for every error, a body
size limit, an in-flight limit for expensive routes, request metrics, /healthz, /livez,
/readyz, /metrics and the operator clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import metrics
from services.common.auth import OPERATOR, Principal, TokenStore
from services.common.clock import Clock, ControlledClock
from services.common.problems import Problem, problem_response
from services.common.telemetry import extract_context
from services.common.watch import Verdict

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
ReadinessCheck = Callable[[], Awaitable[None]]


def _always_live() -> Verdict:
    return Verdict(live=True, detail={})


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413 before the route reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

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
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise Problem(413, "body-too-large",
                                  f"request body over the limit of {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


class InflightLimit:
    """At most `limit` requests of one kind in progress at once; the next one is refused
    at once with 429 and Retry-After (never queued, never left hanging), so a burst
    meets back-pressure instead of piling work onto the database until it times out."""

    def __init__(self, route: str, limit: int, retry_after_seconds: int = 1) -> None:
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self.route, self.limit, self.retry_after = route, limit, retry_after_seconds
        self.inflight = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one place for the body of the `with`; raise Problem(429) if none is free.
        No await between the check and the increment: one event loop, no race."""
        if self.inflight >= self.limit:
            metrics.HTTP_SHED.labels(self.route).inc()
            raise Problem(429, "too-many-requests",
                          f"more than {self.limit} requests of this kind are in progress; "
                          f"retry after {self.retry_after} s",
                          headers={"Retry-After": str(self.retry_after)}, limit=self.limit)
        self.inflight += 1
        metrics.HTTP_INFLIGHT.labels(self.route).set(self.inflight)
        try:
            yield
        finally:
            self.inflight -= 1
            metrics.HTTP_INFLIGHT.labels(self.route).set(self.inflight)


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def create_app(
    *, title: str, lifespan: Lifespan, tokens: TokenStore, clock: Clock,
    readiness: Mapping[str, ReadinessCheck], max_body_bytes: int, version: str = "1",
    liveness: Callable[[], Verdict] = _always_live,
) -> FastAPI:
    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.tokens, app.state.clock = tokens, clock

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        started = time.perf_counter()
        ctx = extract_context([(k, v.encode()) for k, v in request.headers.items()])
        with tracer.start_as_current_span(
            f"{request.method} {request.url.path}", context=ctx, kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method},
        ) as span:
            try:
                response = await call_next(request)
            except Problem as exc:  # raised by the body limit while streaming
                response = problem_response(exc.status, exc.code, exc.detail, **exc.extra)
            except Exception:
                log.exception("unhandled error")
                response = problem_response(500, "internal", "internal error; it was logged")
            route = _route_of(request)
            span.update_name(f"{request.method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", response.status_code)
        if route not in ("/metrics",):
            metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
            metrics.HTTP_LATENCY.labels(request.method, route).observe(
                time.perf_counter() - started)
        return response

    app.add_middleware(BodyLimit, limit=max_body_bytes)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, instance=request.url.path,
                                headers=exc.headers, **exc.extra)

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
        return problem_response(503, "consumer-stalled", "; ".join(
            verdict.detail.get("problems", ())) or "a consumer stalled",
            consumers=verdict.detail)

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

    if isinstance(clock, ControlledClock):
        app.include_router(clock_router(clock))
    return app


# -- authentication -------------------------------------------------------------------

async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthenticated", "a bearer token is required",
                      headers={"WWW-Authenticate": "Bearer"})
    principal: Principal | None = request.app.state.tokens.authenticate(token.strip())
    if principal is None:
        raise Problem(401, "unauthenticated", "the bearer token is not valid",
                      headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def operator_principal(principal: CurrentPrincipal) -> Principal:
    if principal.kind != OPERATOR:
        raise Problem(403, "forbidden", "this action needs the operator credential")
    return principal


OperatorPrincipal = Annotated[Principal, Depends(operator_principal)]


def ensure_access(principal: Principal, unit_id: str) -> None:
    if not principal.may_access(unit_id):
        raise Problem(403, "forbidden", f"this credential may not act for {unit_id}")


# -- the operator clock -----------------------------------------------------------------

class ClockSet(BaseModel):
    now: datetime
    frozen: bool = False


class ClockRead(BaseModel):
    now: datetime
    controllable: bool


def clock_router(clock: ControlledClock) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/v1/admin/clock", response_model=ClockRead)
    async def read_clock(_: OperatorPrincipal) -> ClockRead:
        return ClockRead(now=clock.now(), controllable=True)

    @router.put("/v1/admin/clock", response_model=ClockRead)
    async def set_clock(body: ClockSet, _: OperatorPrincipal) -> ClockRead:
        try:
            clock.set(body.now, frozen=body.frozen)
        except ValueError as exc:
            raise Problem(422, "invalid-request", str(exc)) from exc
        return ClockRead(now=clock.now(), controllable=True)

    return router


