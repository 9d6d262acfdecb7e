"""Slow uploads hold no place of the intake: the in-flight limit counts requests being
processed, and a body still incomplete after the read timeout is answered 408 (raw
sockets on loopback, bounded by timeouts)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlparse

from services.common.settings import ServiceSettings
from services.submissions.settings import SubmissionsSettings
from tests.conftest import request_for
from tests.stackfixture import Stack, unique_key

SLOW_UNIT = "organization:hanoi-university-of-science-and-technology"
FAST_UNITS = ("organization:vietnam-electricity", "organization:voice-of-vietnam")
TIMEOUT = ServiceSettings().body_read_timeout_seconds
# More slow clients than the intake has places.
SLOW_CLIENTS = SubmissionsSettings().max_inflight_submissions + 4


def start_upload(stack: Stack, body: bytes) -> socket.socket:
    """A POST whose headers and first half of the body are sent; the rest never is."""
    url = urlparse(stack.cfg.service_url("submissions"))
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=5)
    sock.settimeout(TIMEOUT + 20)
    head = (f"POST /v1/submissions HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {stack.token(SLOW_UNIT)}\r\n"
            f"Idempotency-Key: {unique_key()}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[: len(body) // 2])
    return sock


def answer_of(sock: socket.socket) -> tuple[int, bytes]:
    """The status and everything the server sent until it closed the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return int(received.split(b" ", 2)[1]), received


def test_slow_uploads_hold_no_place_and_end_with_408(stack: Stack,
                                                     example_request: dict[str, Any]) -> None:
    body = json.dumps(request_for(example_request, SLOW_UNIT, 2026)).encode()
    started = time.monotonic()
    slow = [start_upload(stack, body) for _ in range(SLOW_CLIENTS)]
    try:
        time.sleep(1.0)  # every upload has reached the route, waiting for its body
        for unit in FAST_UNITS:
            with stack.client("submissions", stack.token(unit)) as c:
                sent = time.monotonic()
                answer = c.post("/v1/submissions", json=request_for(example_request, unit, 2026),
                                headers={"Idempotency-Key": unique_key()})
                assert answer.status_code == 202, answer.text
                assert time.monotonic() - sent < TIMEOUT / 2
        for sock in slow:
            status, received = answer_of(sock)
            assert status == 408, received[:300]
            assert b"request-timeout" in received and b"connection: close" in received.lower()
        # Ended by the read timeout, not before it.
        assert TIMEOUT - 1 <= time.monotonic() - started <= TIMEOUT + 15
    finally:
        for sock in slow:
            sock.close()
    with stack.as_operator("submissions") as c:
        assert c.get(f"/v1/units/{SLOW_UNIT}/submissions", params={"period": 2026}).json() == []
