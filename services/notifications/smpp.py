"""SMS over SMPP 3.4 with smpplib: one bound transceiver session, kept open.

smpplib is blocking, so the session lives in threads: a reader thread reads every PDU
(submit_sm_resp, deliver_sm receipts, enquire_link) and the event loop submits through
`asyncio.to_thread`. Each part of a message is submitted and its response awaited
before the next, so a failure of the first part means nothing was sent (transient), a
failure after it means part of the message went out (unknown: never resent).

A watchdog keeps the session honest: when nothing has come from the SMSC for
`enquire_link_seconds` the reader sends an enquire_link, and when nothing (the
enquire_link_resp or any other PDU) comes back within `timeout` the session is dropped;
the next message binds a new one. A submit_sm without a response within `timeout` drops
the session too: behind a silent network the next try then fails to bind (nothing sent,
transient) instead of submitting into the void (an unknown outcome each time)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
from smpplib import smpp

from services.notifications import sms
from services.notifications.providers import (
    Message,
    PermanentSendError,
    SendResult,
    Sms,
    TransientSendError,
    UnknownOutcome,
)

log = logging.getLogger(__name__)
# Statuses after which the SMSC has not taken the message and may take it later.
TRANSIENT_STATUSES = {smpplib.consts.SMPP_ESME_RSYSERR, smpplib.consts.SMPP_ESME_RMSGQFUL,
                      smpplib.consts.SMPP_ESME_RTHROTTLED, 0x00000045, 0x00000064}
# Parts one reminder may have: every SMS template fits two segments for the longest unit
# name of the registry (tests/unit/notifications/test_notifications_templates.py).
MAX_PARTS = 2
RECEIPT_FLAG = 0x04  # esm_class: this deliver_sm is a delivery receipt
RECEIPT_FIELDS = re.compile(rb"(id|stat|err):(\S+)")
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV",
                  6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}
ReceiptHandler = Callable[[str, str], None]  # (message id, stat), called from a thread


class _Client(smpplib.client.Client):
    """smpplib's client with sends serialised: the reader thread answers deliver_sm
    and enquire_link while the event loop's thread submits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_lock = threading.Lock()

    def send_pdu(self, p: Any) -> bool:
        with self.write_lock:
            return bool(super().send_pdu(p))


def parse_receipt(pdu: Any) -> tuple[str, str] | None:
    """(message id, stat) of a delivery receipt, from its TLVs or its text."""
    if not (getattr(pdu, "esm_class", 0) or 0) & RECEIPT_FLAG:
        return None
    text = getattr(pdu, "short_message", b"") or b""
    fields = {k.decode(): v.decode(errors="replace") for k, v in RECEIPT_FIELDS.findall(text)}
    mid = getattr(pdu, "receipted_message_id", None) or fields.get("id")
    state = getattr(pdu, "message_state", None)
    stat = MESSAGE_STATES.get(state, "") if state else fields.get("stat", "")
    if isinstance(mid, bytes):
        mid = mid.decode(errors="replace")
    return (str(mid), stat or "UNKNOWN") if mid else None


class SmppProvider:
    name, channel = "smpp", "sms"

    def __init__(self, host: str, port: int, *, system_id: str, password: str,
                 source_addr: str, timeout: float = 10.0,
                 enquire_link_seconds: float = 30.0,
                 on_receipt: ReceiptHandler | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.enquire_link_seconds = enquire_link_seconds
        # Sessions dropped by the watchdog or after a submit_sm timeout (for tests, logs).
        self.sessions_dropped = 0
        self.system_id, self.password, self.source_addr = system_id, password, source_addr
        self.on_receipt = on_receipt
        self._lock = threading.Lock()  # one submitter at a time; guards connecting
        self._client: _Client | None = None
        self._pending: dict[int, concurrent.futures.Future[tuple[int, str]]] = {}

    @property
    def worst_attempt_seconds(self) -> float:
        """Per part: waiting for the session (bounded by the timeout), connecting and
        binding (a timeout each, when the session is gone) and the submit_sm_resp."""
        return MAX_PARTS * 4 * self.timeout

    # -- the session -----------------------------------------------------------------------
    def _connect(self) -> _Client:
        client = _Client(self.host, self.port, timeout=self.timeout,
                         allow_unknown_opt_params=True, logger_name="smpp.client")
        try:
            client.connect()
            client.bind_transceiver(system_id=self.system_id, password=self.password)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError,
                OSError) as exc:
            client.disconnect()
            raise TransientSendError(self.name, f"cannot bind: {exc!r}") from exc
        client.set_message_sent_handler(self._on_response)
        client.set_message_received_handler(self._on_deliver)
        client.set_error_pdu_handler(self._on_error_pdu)
        client._socket.settimeout(1.0)  # the reader wakes up to notice a closed session
        self._client = client
        threading.Thread(target=self._read, args=(client,), name="smpp-reader",
                         daemon=True).start()
        return client

    def _read(self, client: _Client) -> None:
        heard = time.monotonic()  # when the SMSC last sent anything
        asked: float | None = None  # when the unanswered enquire_link went out
        while self._client is client:
            try:
                client.read_once(auto_send_enquire_link=False)
                heard, asked = time.monotonic(), None
            except TimeoutError:
                now = time.monotonic()
                if asked is not None and now - asked > self.timeout:
                    self._drop(client, TimeoutError(
                        f"no enquire_link_resp within {self.timeout:g} s"), watchdog=True)
                    return
                if asked is None and now - heard > self.enquire_link_seconds:
                    asked = now
                    try:
                        client.send_pdu(smpp.make_pdu("enquire_link", client=client))
                    except (smpplib.exceptions.ConnectionError, OSError) as exc:
                        self._drop(client, exc)
                        return
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError,
                    OSError, ValueError, AttributeError) as exc:
                # (AttributeError: smpplib's socket is None once the session was closed.)
                self._drop(client, exc)
                return

    def _drop(self, client: _Client, exc: BaseException, *, watchdog: bool = False) -> None:
        with self._lock:
            if self._client is client:  # not closed on purpose
                log.warning("SMPP session dropped" if watchdog else "SMPP session lost",
                            extra={"fields": {"error": repr(exc)}})
                self._client = None
                if watchdog:
                    self.sessions_dropped += 1
                # Only the session's own responses are pending (a later session's are
                # not failed by this one's late reader).
                pending, self._pending = self._pending, {}
            else:
                pending = {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"session lost: {exc!r}"))
        with contextlib.suppress(Exception):  # the socket is gone already
            client.disconnect()

    def _on_response(self, pdu: Any, **_: Any) -> None:
        fut = self._pending.pop(pdu.sequence, None)
        if fut is not None and not fut.done():
            mid = pdu.message_id or ""
            fut.set_result((int(pdu.status), mid.decode() if isinstance(mid, bytes) else mid))

    def _on_error_pdu(self, pdu: Any) -> None:
        if pdu.command == "generic_nack":
            self._on_response(pdu)

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        receipt = parse_receipt(pdu)
        if receipt is not None and self.on_receipt is not None:
            self.on_receipt(*receipt)
        return int(smpplib.consts.SMPP_ESME_ROK)

    # -- sending ---------------------------------------------------------------------------
    def _submit(self, part: sms.SmsPart, to: str
                ) -> tuple[_Client, concurrent.futures.Future[tuple[int, str]]]:
        # Another sender may be binding: wait at most the timeout for the session.
        if not self._lock.acquire(timeout=self.timeout):
            raise ConnectionError(f"the SMPP session stayed busy for {self.timeout:g} s")
        try:
            client = self._client or self._connect()
            pdu = smpp.make_pdu(
                "submit_sm", client=client, service_type="",
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr_npi=smpplib.consts.SMPP_NPI_UNK, source_addr=self.source_addr,
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN, destination_addr=to.lstrip("+"),
                esm_class=part.esm_class, data_coding=part.data_coding,
                registered_delivery=1, short_message=part.short_message)
            fut: concurrent.futures.Future[tuple[int, str]] = concurrent.futures.Future()
            self._pending[pdu.sequence] = fut
            try:
                client.send_pdu(pdu)
            except (smpplib.exceptions.ConnectionError, OSError) as exc:
                self._pending.pop(pdu.sequence, None)
                raise ConnectionError(repr(exc)) from exc
            return client, fut
        finally:
            self._lock.release()

    async def send(self, message: Message) -> SendResult:
        assert isinstance(message, Sms)
        parts = sms.encode(message.text, message.reference)
        ids: list[str] = []
        for n, part in enumerate(parts):
            first = n == 0
            try:
                client, fut = await asyncio.to_thread(self._submit, part, message.to)
            except TransientSendError:
                if first:
                    raise
                raise UnknownOutcome(self.name, f"part {n + 1} of {len(parts)} not sent") from None
            except ConnectionError as exc:
                if first:
                    raise TransientSendError(self.name, f"cannot submit: {exc}") from exc
                raise UnknownOutcome(self.name, f"part {n + 1}: {exc}") from exc
            try:
                status, mid = await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout)
            except TimeoutError as exc:
                # The session is not to be trusted any more: the next message binds anew.
                await asyncio.to_thread(self._drop, client, TimeoutError(
                    f"no submit_sm_resp within {self.timeout:g} s"), watchdog=True)
                raise UnknownOutcome(self.name, f"no submit_sm_resp: {exc!r}") from exc
            except ConnectionError as exc:
                raise UnknownOutcome(self.name, f"no submit_sm_resp: {exc!r}") from exc
            if status != 0:
                text = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
                detail = f"part {n + 1}: status 0x{status:08X} {text}"
                if not first:
                    raise UnknownOutcome(self.name, detail + " after earlier parts were sent")
                if status in TRANSIENT_STATUSES:
                    raise TransientSendError(self.name, detail)
                raise PermanentSendError(self.name, detail)
            ids.append(mid)
        return SendResult(self.name, tuple(ids), f"{len(parts)} part(s)")

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            # Only the reader thread reads: send unbind and close without waiting.
            with contextlib.suppress(Exception):
                client.send_pdu(smpp.make_pdu("unbind", client=client))
            client.disconnect()
