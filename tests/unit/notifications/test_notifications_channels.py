"""The channel adapters against real servers on loopback (devstack/sinks.py, started
in-process): what the SMTP server and the SMPP peer received, byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.sinks import Sinks
from services.notifications import sms
from services.notifications.providers import (
    Email,
    HttpSmsProvider,
    PermanentSendError,
    Sms,
    SmtpProvider,
    TransientSendError,
    UnknownOutcome,
)
from services.notifications.smpp import SmppProvider

VI = ("Công an tỉnh Quảng Ninh: còn 7 ngày đến hạn nộp báo cáo thi đua năm 2040 "
      "(23:59 30/11).")


def records(out: Path, kind: str) -> list[dict[str, Any]]:
    import json

    path = out / f"{kind}.jsonl"
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()] if path.exists() else []


def with_sinks(tmp_path: Path, body: Callable[[Sinks], Awaitable[None]]) -> None:
    async def run() -> None:
        async with Sinks(tmp_path) as sinks:
            await body(sinks)

    asyncio.run(run())


def email(to: str = "thidua@congan-quangninh.example") -> Email:
    return Email(key="2040|police:quang-ninh|d-7|email|" + to, to=to,
                 subject="[Thi đua 2040] Nhắc nộp báo cáo", body="Kính gửi Công an tỉnh Quảng Ninh",
                 message_id="<2040.d-7.abc@notifications.example>",
                 date=datetime(2040, 11, 23, 2, tzinfo=UTC),
                 headers={"X-Emulation-Unit": "police:quang-ninh"})


def test_smtp_delivers_utf8_with_the_deterministic_message_id(tmp_path: Path) -> None:
    async def body(sinks: Sinks) -> None:
        smtp = SmtpProvider("127.0.0.1", sinks.smtp_port, "nhac@n.example")
        result = await smtp.send(email())
        assert result.message_ids == ("<2040.d-7.abc@notifications.example>",)

    with_sinks(tmp_path, body)
    [got] = records(tmp_path, "smtp")
    assert got["message_id"] == "<2040.d-7.abc@notifications.example>"
    assert got["subject"] == "[Thi đua 2040] Nhắc nộp báo cáo"
    assert got["rcpt_tos"] == ["thidua@congan-quangninh.example"]
    assert got["body"].strip() == "Kính gửi Công an tỉnh Quảng Ninh"
    assert got["headers"]["X-Emulation-Unit"] == "police:quang-ninh"


def test_smtp_errors_are_told_apart(tmp_path: Path) -> None:
    async def body(sinks: Sinks) -> None:
        (tmp_path / "fail-smtp").touch()
        with pytest.raises(TransientSendError, match="451"):
            await SmtpProvider("127.0.0.1", sinks.smtp_port, "n@n.example").send(email())
        (tmp_path / "fail-smtp").unlink()
        # A server that takes the message but does not answer in time: maybe sent.
        (tmp_path / "delay-smtp").write_text("3")
        with pytest.raises(UnknownOutcome):
            await SmtpProvider("127.0.0.1", sinks.smtp_port, "n@n.example",
                               timeout=0.5).send(email())
        with pytest.raises(TransientSendError, match="connect"):
            await SmtpProvider("127.0.0.1", free_port(), "n@n.example").send(email())

    with_sinks(tmp_path, body)
    assert len(records(tmp_path, "smtp")) == 1  # the slow one arrived, the 451 did not


def test_smpp_submits_ucs2_parts_with_udh_and_gets_receipts(tmp_path: Path) -> None:
    receipts: list[tuple[str, str]] = []

    async def body(sinks: Sinks) -> None:
        smpp = SmppProvider("127.0.0.1", sinks.smpp_port, system_id="emulation",
                            password="pw", source_addr="THIDUA-BCA",
                            on_receipt=lambda mid, stat: receipts.append((mid, stat)))
        try:
            result = await smpp.send(Sms(key="k", to="+84990600101", text=VI, reference=42))
            english = await smpp.send(Sms(key="k2", to="+84990600102",
                                          text="Lang Son Provincial Police: 7 days left.",
                                          reference=1))
            for _ in range(100):
                if len(receipts) == 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            smpp.close()
        assert len(result.message_ids) == 2 and len(english.message_ids) == 1
        assert sorted(receipts) == sorted(
            (mid, "DELIVRD") for mid in result.message_ids + english.message_ids)

    with_sinks(tmp_path, body)
    pdus = [r for r in records(tmp_path, "smpp") if r["command"] == "submit_sm"]
    assert [p["destination_addr"] for p in pdus] == ["84990600101"] * 2 + ["84990600102"]
    first, second, english = pdus
    for part, seq in ((first, 1), (second, 2)):
        assert part["data_coding"] == 0x08 and part["esm_class"] == 0x40
        assert part["udh"] == {"ref": 42, "total": 2, "seq": seq}
        assert part["registered_delivery"] == 1 and part["sm_length"] <= 140
    assert sms.length(first["text"], sms.UCS2) == 67
    assert first["text"] + second["text"] == VI
    assert english["data_coding"] == 0 and english["esm_class"] == 0 and english["udh"] is None
    assert english["text"] == "Lang Son Provincial Police: 7 days left."
    assert first["source_addr"] == "THIDUA-BCA" and first["system_id"] == "emulation"


def test_smpp_system_error_is_transient_and_nothing_else_goes_out(tmp_path: Path) -> None:
    async def body(sinks: Sinks) -> None:
        (tmp_path / "fail-smpp").touch()
        smpp = SmppProvider("127.0.0.1", sinks.smpp_port, system_id="e", password="p",
                            source_addr="T")
        try:
            with pytest.raises(TransientSendError, match="0x00000008"):
                await smpp.send(Sms(key="k", to="+84990600101", text=VI, reference=1))
        finally:
            smpp.close()
        with pytest.raises(TransientSendError):
            await SmppProvider("127.0.0.1", free_port(), system_id="e", password="p",
                               source_addr="T").send(Sms(key="k", to="+1", text="x",
                                                         reference=1))

    with_sinks(tmp_path, body)
    pdus = [r for r in records(tmp_path, "smpp") if r["command"] == "submit_sm"]
    assert len(pdus) == 1 and pdus[0]["command_status"] == 0x08  # part 2 never sent


def test_http_sms_gateway(tmp_path: Path) -> None:
    async def body(sinks: Sinks) -> None:
        http = HttpSmsProvider(f"http://127.0.0.1:{sinks.http_sms_port}/sms", "THIDUA-BCA")
        try:
            result = await http.send(Sms(key="k", to="+84990600101", text=VI, reference=1))
            assert result.message_ids and result.provider == "http-sms"
            (tmp_path / "fail-http-sms").touch()
            with pytest.raises(TransientSendError, match="503"):
                await http.send(Sms(key="k", to="+84990600101", text=VI, reference=1))
            (tmp_path / "fail-http-sms").unlink()
            with pytest.raises(PermanentSendError, match="400"):
                await http.send(Sms(key="k", to="", text=VI, reference=1))
        finally:
            await http.close()

    with_sinks(tmp_path, body)
    [got] = records(tmp_path, "http_sms")
    assert got["text"] == VI and got["to"] == "+84990600101" and got["reference"] == "k"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ENQUIRE_LINK, SUBMIT_SM = 0x00000015, 0x00000004


def test_smpp_watchdog_drops_a_session_gone_silent_and_binds_again(tmp_path: Path) -> None:
    """An idle session whose SMSC stops answering (the sink's silent mode: binds are still
    answered, nothing else) is dropped by the enquire_link watchdog within the interval
    plus the timeout; the next message binds a new session and goes out."""
    async def body(sinks: Sinks) -> None:
        smpp = SmppProvider("127.0.0.1", sinks.smpp_port, system_id="e", password="p",
                            source_addr="T", timeout=1.0, enquire_link_seconds=0.5)
        try:
            await smpp.send(Sms(key="k1", to="+84990600101", text="one", reference=1))
            (tmp_path / "silent-smpp").touch()
            for _ in range(80):  # at most 8 s; about 3 s with a 1 s read tick
                if smpp.sessions_dropped:
                    break
                await asyncio.sleep(0.1)
            assert smpp.sessions_dropped == 1 and smpp._client is None
            (tmp_path / "silent-smpp").unlink()
            result = await smpp.send(Sms(key="k2", to="+84990600102", text="two",
                                         reference=2))
            assert result.message_ids and all(result.message_ids)
        finally:
            smpp.close()

    asyncio.run(asyncio.wait_for(_in_sinks(tmp_path, body), 20))
    got = records(tmp_path, "smpp")
    assert [r["command"] for r in got if r["command"] == "bind"] == ["bind", "bind"]
    assert any(r["command"] == "ignored" and r["command_id"] == ENQUIRE_LINK for r in got)
    assert [r["destination_addr"] for r in got if r["command"] == "submit_sm"] == [
        "84990600101", "84990600102"]


def test_smpp_submit_timeout_drops_the_session(tmp_path: Path) -> None:
    """A submit_sm without a response is an unknown outcome and ends the session: the
    next message binds anew instead of submitting into the silent one, and behind a
    network that answers nothing at all (not even a bind) it fails before sending
    anything (transient), so a circuit breaker's trial loses no SMS."""
    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass
        writer.close()

    async def body(sinks: Sinks) -> None:
        (tmp_path / "silent-smpp").touch()
        smpp = SmppProvider("127.0.0.1", sinks.smpp_port, system_id="e", password="p",
                            source_addr="T", timeout=1.0, enquire_link_seconds=30)
        hole = await asyncio.start_server(black_hole, "127.0.0.1", 0)
        try:
            with pytest.raises(UnknownOutcome, match="submit_sm_resp"):
                await smpp.send(Sms(key="k1", to="+84990600101", text="one", reference=1))
            assert smpp.sessions_dropped == 1 and smpp._client is None
            with pytest.raises(UnknownOutcome):  # a new session, silent as well
                await smpp.send(Sms(key="k2", to="+84990600102", text="two", reference=2))
            assert smpp.sessions_dropped == 2
            smpp.port = hole.sockets[0].getsockname()[1]  # now nothing answers at all
            with pytest.raises(TransientSendError, match="cannot bind"):
                await smpp.send(Sms(key="k3", to="+84990600103", text="three", reference=3))
        finally:
            smpp.close()
            hole.close()

    asyncio.run(asyncio.wait_for(_in_sinks(tmp_path, body), 20))
    got = records(tmp_path, "smpp")
    assert [r["command"] for r in got if r["command"] == "bind"] == ["bind", "bind"]
    submitted = [r for r in got if r["command"] == "ignored" and r["command_id"] == SUBMIT_SM]
    assert len(submitted) == 2  # one per session; k3 never reached a submit


async def _in_sinks(tmp_path: Path, body: Callable[[Sinks], Awaitable[None]]) -> None:
    async with Sinks(tmp_path) as sinks:
        await body(sinks)
