"""What the reminder-season tests share (integration and fault suites): the campaign and
the clock set through the services' HTTP API, the ledger and the mail and SMS sinks read
back, the keys a season must send."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.common.movements import movement_of
from tests.conftest import request_for
from tests.stackfixture import Stack, wait_for

SENT = ("sent", "delivered")


def put_campaign(stack: Stack, period: int, units: list[str], align_police: bool = True,
                 **fields: Any) -> dict[str, Any]:
    """A campaign restricted to `units` (operators may target a subset). Police units are
    reminded from `vi-an-ninh`'s deadline (26 November by default): unless told not to,
    an operator sets it to the campaign's, so that a test about the reminders' mechanics
    runs one timeline for every unit."""
    with stack.as_operator("notifications") as c:
        r = c.put(f"/v1/campaigns/{period}",
                  json={"audience": {"unit_ids": units}, **fields})
    assert r.status_code == 200, r.text
    if align_police and any(movement_of(u) == "vi-an-ninh" for u in units):
        set_police_deadline(stack, period, r.json()["deadline"])
    return dict(r.json())


def set_police_deadline(stack: Stack, period: int, deadline: str) -> None:
    """An operator sets `vi-an-ninh`'s units' deadline (submissions); the notifications
    service sees it through the registry topic."""
    with stack.as_operator("submissions") as c:
        r = c.put(f"/v1/movements/vi-an-ninh/deadlines/{period}", json={"deadline": deadline},
                  headers={"Audit-Reason": "test: one timeline for every unit"})
    assert r.status_code == 200, r.text
    want = datetime.fromisoformat(deadline)
    with stack.as_operator("notifications") as c:
        wait_for("notifications to see the police units' deadline", lambda: datetime.fromisoformat(
            c.get(f"/v1/deadlines/{period}", params={"movement": "vi-an-ninh"}
                  ).json()["deadline"]) == want)


def tick(stack: Stack) -> dict[str, Any]:
    with stack.as_operator("notifications") as c:
        r = c.post("/v1/admin/tick", timeout=180)
    assert r.status_code == 200, r.text
    return dict(r.json())


def at(stack: Stack, iso: str) -> dict[str, Any]:
    """Set every service's clock, then run one scheduling pass at that time."""
    stack.set_clock(iso)
    return tick(stack)


def ledger(stack: Stack, period: int, unit_id: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"period": period}
    if unit_id:
        params["unit_id"] = unit_id
    with stack.as_operator("notifications") as c:
        r = c.get("/v1/notifications", params=params)
    assert r.status_code == 200, r.text
    return list(r.json())


def keys(rows: Iterable[dict[str, Any]]) -> Counter[tuple[str, str, str, str]]:
    return Counter((r["unit_id"], r["stage"], r["channel"], r["recipient"]) for r in rows)


def submit(stack: Stack, example: dict[str, Any], unit_id: str, period: int) -> None:
    with stack.client("submissions", stack.token(unit_id)) as c:
        r = c.post("/v1/submissions", json=request_for(example, unit_id, period))
    assert r.status_code == 202, r.text
    with stack.as_operator("notifications") as c:
        wait_for(f"notifications to see {unit_id}'s report", lambda: unit_id not in c.get(
            f"/v1/deadlines/{period}", params={"movement": movement_of(unit_id)}
        ).json()["missing"])


def units_of(stack: Stack, period: int) -> dict[str, dict[str, Any]]:
    """The registry as the submissions service serves it, with contacts."""
    from services.submissions.registry import load_registry

    out = {}
    for u in load_registry().units(period):
        out[u.unit_id] = {"name": u.name, "name_en": u.name_en,
                          "emails": list(u.contacts.emails), "phones": list(u.contacts.phones),
                          "language": u.contacts.language}
    return out


class Sinks:
    """What the sinks received since this object was made (the files outlive test runs)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.marks = {k: len(stack.sink_records(k)) for k in ("smtp", "smpp", "http_sms")}

    def new(self, kind: str) -> list[dict[str, Any]]:
        return self.stack.sink_records(kind)[self.marks[kind]:]

    def emails(self, period: int) -> list[dict[str, Any]]:
        return [m for m in self.new("smtp")
                if m["headers"].get("X-Emulation-Period") == str(period)]

    def smpp_messages(self, period: int) -> list[dict[str, Any]]:
        """Accepted submit_sm PDUs joined into messages (parts of one message follow each
        other per destination), those of `period` only."""
        open_parts: dict[str, list[dict[str, Any]]] = {}
        messages = []
        for pdu in self.new("smpp"):
            if pdu["command"] != "submit_sm" or pdu["command_status"] != 0:
                continue
            dest = "+" + pdu["destination_addr"]
            parts = open_parts.setdefault(dest, []) if pdu["udh"] else []
            parts.append(pdu)
            if pdu["udh"] and pdu["udh"]["seq"] < pdu["udh"]["total"]:
                continue
            open_parts.pop(dest, None)
            messages.append({"to": dest, "text": "".join(p["text"] for p in parts),
                             "ids": [p["message_id"] for p in parts], "pdus": parts})
        return [m for m in messages if str(period) in m["text"]]

    def http_sms(self, period: int) -> list[dict[str, Any]]:
        return [m for m in self.new("http_sms") if str(period) in m["text"]]


def assert_sinks_match_ledger(sinks: Sinks, rows: list[dict[str, Any]], period: int) -> None:
    """The peers received exactly what the ledger says was sent: each sent reminder once,
    nothing else (a reminder marked unknown, or resolved as escalated or failed after an
    unknown outcome, may or may not have arrived, at most once)."""
    emails = sinks.emails(period)
    by_id = Counter(m["message_id"] for m in emails)
    assert all(n == 1 for n in by_id.values()), f"duplicate e-mails: {by_id.most_common(3)}"
    sent_ids = {r["message_id"] for r in rows if r["channel"] == "email" and r["status"] in SENT}
    # An unknown outcome resolved by the other channel may or may not have arrived too.
    maybe_ids = {r["message_id"] for r in rows if r["channel"] == "email"
                 and (r["status"] == "unknown" or r.get("resolution"))}
    assert sent_ids <= set(by_id), f"sent but not received: {sent_ids - set(by_id)}"
    assert set(by_id) <= sent_ids | maybe_ids, f"received, not in ledger: {set(by_id) - sent_ids}"
    for m in emails:
        assert m["rcpt_tos"] == [m["to"]]

    sms_rows = [r for r in rows if r["channel"] == "sms" and r["status"] in SENT]
    smpp = sinks.smpp_messages(period)
    got = Counter(tuple(m["ids"]) for m in smpp)
    assert all(n == 1 for n in got.values())
    want = Counter(tuple(r["provider_ids"]) for r in sms_rows if r["provider"] == "smpp")
    assert got == want, f"SMPP peer {sorted(got)} != ledger {sorted(want)}"
    for m in smpp:
        row = next(r for r in sms_rows if tuple(r["provider_ids"]) == tuple(m["ids"]))
        assert row["recipient"] == m["to"]
    http = Counter(m["message_id"] for m in sinks.http_sms(period))
    want_http = Counter(i for r in sms_rows if r["provider"] == "http-sms"
                        for i in r["provider_ids"])
    assert http == want_http


STAGE_TIMES = {"d-30": "10-31T09:05", "d-14": "11-16T09:05", "d-7": "11-23T09:05",
               "d-3": "11-27T09:05", "d-1": "11-29T09:05", "d-0": "11-30T08:05",
               "overdue-1": "12-01T09:05", "overdue-3": "12-03T09:05"}


def when(period: int, stage: str, times: dict[str, str] = STAGE_TIMES) -> str:
    return f"{period}-{times[stage]}:00+07:00"


def expected_keys(registry: dict[str, dict[str, Any]], unit: str, stages: list[str],
                  channels: tuple[str, ...] = ("email", "sms")) -> Counter[tuple[str, ...]]:
    u = registry[unit]
    out: Counter[tuple[str, ...]] = Counter()
    for stage in stages:
        if "email" in channels:
            out.update((unit, stage, "email", a) for a in u["emails"])
        if "sms" in channels:
            out.update((unit, stage, "sms", p) for p in u["phones"])
    return out


def reset_providers(stack: Stack) -> None:
    """Close the circuits a fault test opened, so later tests start clean."""
    with stack.as_operator("notifications") as c:
        states = c.post("/v1/admin/providers/reset").json()
    assert set(states.values()) == {"closed"}
