"""Local stand-ins for the providers the notifications service talks to: an SMTP server
(aiosmtpd), a minimal SMPP 3.4 SMSC and an HTTP SMS gateway. Each appends what it
receives, one JSON object a line, to OUT/smtp.jsonl, OUT/smpp.jsonl, OUT/http_sms.jsonl.

    python -m devstack.sinks --smtp-port 1025 --smpp-port 2775 --http-sms-port 2780 --out DIR

The SMSC answers bind_transceiver/_transmitter/_receiver, submit_sm (with a message id),
enquire_link and unbind, and sends a deliver_sm delivery receipt for each submit_sm that
asks for one. Failure injection, for tests: while the file OUT/fail-smpp exists the
SMSC answers submit_sm with ESME_RSYSERR; OUT/fail-http-sms makes the gateway answer
503; OUT/fail-smtp makes the SMTP server answer 451 to the message; OUT/delay-smtp,
holding a number of seconds, makes it wait that long after storing a message before it
answers (a provider that hangs: the sender cannot know whether the message went out);
while OUT/silent-smpp exists the SMSC still answers binds but nothing else (a network or
SMSC gone silent behind a live TCP session): it records what it receives, unanswered;
OUT/hang-smtp, holding a number of seconds, makes the SMTP server hold each message that
long and then refuse it with 451 without storing it (a relay that hangs and loses it).

The HTTP server also answers `GET /smtp/messages?message_id=<id>` with `{"found": bool,
"received_at": ...}`: the relay's log by Message-ID, which the notifications service asks
to reconcile an e-mail whose outcome is unknown."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import itertools
import json
import signal
import struct
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP

BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x01, 0x02, 0x09
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK, GENERIC_NACK = 0x04, 0x05, 0x06, 0x15, 0x80000000
RESP = 0x80000000
ESME_ROK, ESME_RINVCMDID, ESME_RSYSERR = 0x00, 0x03, 0x08
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[",
                  0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Recorder:
    """Appends records to OUT/<kind>.jsonl and reads the failure-injection files."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)

    def append(self, kind: str, record: dict[str, Any]) -> None:
        with open(self.out / f"{kind}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def failing(self, what: str) -> bool:
        return (self.out / f"fail-{what}").exists()

    def silent(self, what: str) -> bool:
        return (self.out / f"silent-{what}").exists()

    def delay(self, what: str, mode: str = "delay") -> float:
        try:
            return float((self.out / f"{mode}-{what}").read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0.0

    def smtp_received(self, message_id: str) -> str | None:
        """When the SMTP server stored the message with this Message-ID (its log)."""
        path = self.out / "smtp.jsonl"
        if not path.exists():
            return None
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if message_id in line:
                    with contextlib.suppress(ValueError):
                        record = json.loads(line)
                        if record.get("message_id") == message_id:
                            return str(record.get("received_at") or "")
        return None


# -- SMTP ----------------------------------------------------------------------------------

class SmtpHandler:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.recorder.failing("smtp"):
            return "451 4.3.0 Injected failure: try again later"
        hang = self.recorder.delay("smtp", mode="hang")
        if hang:
            await asyncio.sleep(hang)
            return "451 4.3.0 Injected hang: the message was not stored"
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body_part = msg.get_body(("plain",))
        self.recorder.append("smtp", {
            "received_at": _now(), "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "message_id": str(msg.get("Message-ID", "")).strip(),
            "subject": str(msg.get("Subject", "")), "to": str(msg.get("To", "")),
            "date": str(msg.get("Date", "")),
            "headers": {k: str(v) for k, v in msg.items() if k.lower().startswith("x-")
                        or k.lower() == "content-language"},
            "body": body_part.get_content() if body_part is not None else "",
        })
        delay = self.recorder.delay("smtp")
        if delay:
            await asyncio.sleep(delay)
        return "250 2.0.0 Message accepted"


# -- SMPP 3.4 --------------------------------------------------------------------------------

def _cstring(body: bytes, pos: int) -> tuple[str, int]:
    end = body.index(b"\x00", pos)
    return body[pos:end].decode("latin-1"), end + 1


def decode_short_message(sm: bytes, esm_class: int, data_coding: int
                         ) -> tuple[dict[str, int] | None, str]:
    """(concatenation header if any, the text) of a short message."""
    udh = None
    if esm_class & 0x40 and sm:
        length = sm[0]
        header, sm = sm[1:1 + length], sm[1 + length:]
        i = 0
        while i + 1 < len(header):
            iei, ie_len = header[i], header[i + 1]
            value = header[i + 2:i + 2 + ie_len]
            if iei == 0x00 and ie_len == 3:
                udh = {"ref": value[0], "total": value[1], "seq": value[2]}
            elif iei == 0x08 and ie_len == 4:
                udh = {"ref": int.from_bytes(value[:2], "big"), "total": value[2],
                       "seq": value[3]}
            i += 2 + ie_len
    if data_coding == 0x08:
        return udh, sm.decode("utf-16-be", errors="replace")
    if data_coding == 0x00:
        out, escape = [], False
        for octet in sm:
            if escape:
                out.append(GSM7_EXTENSION.get(octet, "?"))
                escape = False
            elif octet == 0x1B:
                escape = True
            else:
                out.append(GSM7_BASIC[octet & 0x7F])
        return udh, "".join(out)
    return udh, sm.decode("latin-1")


def parse_submit_sm(body: bytes) -> dict[str, Any]:
    f: dict[str, Any] = {}
    pos = 0
    f["service_type"], pos = _cstring(body, pos)
    f["source_addr_ton"], f["source_addr_npi"] = body[pos], body[pos + 1]
    f["source_addr"], pos = _cstring(body, pos + 2)
    f["dest_addr_ton"], f["dest_addr_npi"] = body[pos], body[pos + 1]
    f["destination_addr"], pos = _cstring(body, pos + 2)
    f["esm_class"], f["protocol_id"], f["priority_flag"] = body[pos], body[pos + 1], body[pos + 2]
    f["schedule_delivery_time"], pos = _cstring(body, pos + 3)
    f["validity_period"], pos = _cstring(body, pos)
    (f["registered_delivery"], f["replace_if_present_flag"], f["data_coding"],
     f["sm_default_msg_id"], f["sm_length"]) = body[pos:pos + 5]
    pos += 5
    sm = body[pos:pos + f["sm_length"]]
    pos += f["sm_length"]
    tlvs = {}
    while pos + 4 <= len(body):
        tag, length = struct.unpack(">HH", body[pos:pos + 4])
        tlvs[f"0x{tag:04x}"] = body[pos + 4:pos + 4 + length].hex()
        pos += 4 + length
    f["tlvs"] = tlvs
    f["short_message_hex"] = sm.hex()
    f["udh"], f["text"] = decode_short_message(sm, f["esm_class"], f["data_coding"])
    return f


def _pdu(command: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return struct.pack(">IIII", 16 + len(body), command, status, sequence) + body


def _cstr(text: str) -> bytes:
    return text.encode("latin-1") + b"\x00"


class SmppServer:
    def __init__(self, recorder: Recorder, receipts: bool = True) -> None:
        self.recorder, self.receipts = recorder, receipts
        self._ids = itertools.count(1)
        self._sequences = itertools.count(1)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        system_id = None
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                header = await reader.readexactly(16)
                length, command, _status, sequence = struct.unpack(">IIII", header)
                body = await reader.readexactly(length - 16) if length > 16 else b""
                if command in (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER):
                    system_id, _ = _cstring(body, 0)
                    self.recorder.append("smpp", {"received_at": _now(), "command": "bind",
                                                  "command_id": command,
                                                  "system_id": system_id})
                    writer.write(_pdu(command | RESP, ESME_ROK, sequence, _cstr("SINKSMSC")))
                elif self.recorder.silent("smpp"):
                    self.recorder.append("smpp", {"received_at": _now(), "command": "ignored",
                                                  "command_id": command,
                                                  "sequence": sequence})
                elif command == SUBMIT_SM:
                    task = self._submit(writer, body, sequence, system_id)
                    if task is not None:
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                elif command == ENQUIRE_LINK:
                    writer.write(_pdu(ENQUIRE_LINK | RESP, ESME_ROK, sequence))
                elif command == UNBIND:
                    writer.write(_pdu(UNBIND | RESP, ESME_ROK, sequence))
                    await writer.drain()
                    break
                elif command & RESP:
                    pass  # deliver_sm_resp, enquire_link_resp
                else:
                    writer.write(_pdu(GENERIC_NACK, ESME_RINVCMDID, sequence))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _submit(self, writer: asyncio.StreamWriter, body: bytes, sequence: int,
                system_id: str | None) -> asyncio.Task[None] | None:
        fields = parse_submit_sm(body)
        failing = self.recorder.failing("smpp")
        message_id = "" if failing else f"{next(self._ids):08x}{uuid.uuid4().hex[:8]}"
        status = ESME_RSYSERR if failing else ESME_ROK
        self.recorder.append("smpp", {"received_at": _now(), "command": "submit_sm",
                                      "sequence": sequence, "system_id": system_id,
                                      **fields, "message_id": message_id,
                                      "command_status": status})
        writer.write(_pdu(SUBMIT_SM | RESP, status, sequence,
                          _cstr(message_id) if not failing else b""))
        if failing or not self.receipts or not fields["registered_delivery"] & 0x01:
            return None
        return asyncio.create_task(self._receipt(writer, fields, message_id))

    async def _receipt(self, writer: asyncio.StreamWriter, f: dict[str, Any], mid: str) -> None:
        await asyncio.sleep(0.05)
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        text = (f"id:{mid} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} "
                f"stat:DELIVRD err:000 text:").encode("ascii")
        body = (_cstr("") + bytes((f["dest_addr_ton"], f["dest_addr_npi"]))
                + _cstr(f["destination_addr"])
                + bytes((f["source_addr_ton"], f["source_addr_npi"])) + _cstr(f["source_addr"])
                + bytes((0x04, 0, 0)) + _cstr("") + _cstr("")
                + bytes((0, 0, 0, 0, len(text))) + text
                + struct.pack(">HH", 0x001E, len(mid) + 1) + _cstr(mid)
                + struct.pack(">HHB", 0x0427, 1, 2))
        writer.write(_pdu(DELIVER_SM, ESME_ROK, next(self._sequences), body))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        self.recorder.append("smpp", {"received_at": _now(), "command": "deliver_sm",
                                      "receipted_message_id": mid, "stat": "DELIVRD",
                                      "destination_addr": f["destination_addr"]})


# -- HTTP SMS gateway ------------------------------------------------------------------------

def http_app(recorder: Recorder) -> web.Application:
    ids = itertools.count(1)

    async def send(request: web.Request) -> web.Response:
        if recorder.failing("http-sms"):
            return web.json_response({"error": "injected failure"}, status=503)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(body, dict) or not body.get("to") or not body.get("text"):
            return web.json_response({"error": "to and text are required"}, status=400)
        message_id = f"http-{next(ids):06d}"
        recorder.append("http_sms", {"received_at": _now(), "to": body["to"],
                                     "text": body["text"], "sender": body.get("sender"),
                                     "reference": body.get("reference"),
                                     "message_id": message_id})
        return web.json_response({"message_id": message_id, "status": "accepted"})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def smtp_messages(request: web.Request) -> web.Response:
        message_id = request.query.get("message_id", "").strip()
        if not message_id:
            return web.json_response({"error": "message_id is required"}, status=400)
        when = await asyncio.to_thread(recorder.smtp_received, message_id)
        return web.json_response({"message_id": message_id, "found": when is not None,
                                  "received_at": when})

    app = web.Application()
    app.router.add_post("/sms", send)
    app.router.add_get("/healthz", health)
    app.router.add_get("/smtp/messages", smtp_messages)
    return app


# -- all three ---------------------------------------------------------------------------------

class Sinks:
    """The three servers on loopback; a port of 0 picks a free one (see the attributes)."""

    def __init__(self, out: Path, *, smtp_port: int = 0, smpp_port: int = 0,
                 http_sms_port: int = 0, host: str = "127.0.0.1", receipts: bool = True) -> None:
        self.recorder = Recorder(out)
        self.host, self.receipts = host, receipts
        self.smtp_port, self.smpp_port, self.http_sms_port = smtp_port, smpp_port, http_sms_port
        self._servers: list[asyncio.AbstractServer] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> Sinks:
        loop = asyncio.get_running_loop()
        handler = SmtpHandler(self.recorder)
        smtp = await loop.create_server(
            lambda: SMTP(handler, hostname="sinks.local", enable_SMTPUTF8=True, loop=loop),
            self.host, self.smtp_port)
        smpp = await asyncio.start_server(SmppServer(self.recorder, self.receipts).handle,
                                          self.host, self.smpp_port)
        self._servers += [smtp, smpp]
        self.smtp_port = smtp.sockets[0].getsockname()[1]
        self.smpp_port = smpp.sockets[0].getsockname()[1]
        self._runner = web.AppRunner(http_app(self.recorder), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.http_sms_port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.http_sms_port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Sinks:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


async def _serve(args: argparse.Namespace) -> None:
    sinks = await Sinks(Path(args.out), smtp_port=args.smtp_port, smpp_port=args.smpp_port,
                        http_sms_port=args.http_sms_port, host=args.host,
                        receipts=not args.no_receipts).start()
    print(f"sinks ready: smtp {sinks.smtp_port}, smpp {sinks.smpp_port}, "
          f"http-sms {sinks.http_sms_port}, out {args.out}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sinks.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.sinks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--smpp-port", type=int, default=2775)
    parser.add_argument("--http-sms-port", type=int, default=2780)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--out", required=True, help="folder of the .jsonl files")
    parser.add_argument("--no-receipts", action="store_true",
                        help="do not send SMPP delivery receipts")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
