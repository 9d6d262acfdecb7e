"""Issue 14, point 2: the synthesis for the Prime Minister is the operators' own tracked
task, with its due date, state, who moved it, reminders by e-mail to the operators (the
real SMTP sink) and the at-risk flag. On the real stack (notifications service)."""

from __future__ import annotations

import pytest

from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration

PERIOD = 2093  # no other test uses 2093
URL = f"/v1/milestones/{PERIOD}"
OPERATORS = [f"tong-hop-{PERIOD}@operators.test"]
REASON = {"Audit-Reason": "theo-doi-bao-cao-tong-hop"}


def test_the_synthesis_milestone_has_its_due_date_state_and_reminders(clock: Stack) -> None:
    stack = clock
    stack.set_clock(f"{PERIOD}-11-20T09:10:00+07:00")
    with stack.as_operator("notifications") as c:
        view = c.get(URL).json()
        assert (view["state"], view["at_risk"], view["movement"]) == ("open", False, "toan-dan")
        assert view["due"].startswith(f"{PERIOD}-11-29T23:59:59")
        assert "platform default" in view["due_source"]
        r = c.put(URL, json={"recipients": OPERATORS}, headers=REASON)
        assert r.status_code == 200, r.text
    with stack.client("notifications", stack.token("province:ha-noi")) as c:
        assert c.put(URL, json={"state": "sent"}, headers=REASON).status_code == 403

    # A week before the due date the operators are reminded, once.
    stack.set_clock(f"{PERIOD}-11-22T09:30:00+07:00", ("notifications",))

    def mails() -> list[dict[str, object]]:
        return [m for m in stack.sink_records("smtp") if OPERATORS[0] in str(m.get("to"))]

    first = wait_for("the d-7 reminder to the operators", mails, timeout=60)
    with stack.as_operator("notifications") as c:
        view = wait_for("the reminder recorded", lambda: (
            v := c.get(URL).json()) and "d-7" in v["reminders"] and v)
    assert "Thủ tướng" in str(first[0]["subject"])

    # Three days before, still not drafted: at risk; drafted, then sent, by whom.
    stack.set_clock(f"{PERIOD}-11-27T10:00:00+07:00", ("notifications",))
    with stack.as_operator("notifications") as c:
        assert c.get(URL).json()["at_risk"] is True
        drafted = c.put(URL, json={"state": "drafted"}, headers=REASON).json()
        assert drafted["at_risk"] is False and drafted["drafted_by"]
        sent = c.put(URL, json={"state": "sent"}, headers=REASON).json()
    assert (sent["state"], sent["at_risk"]) == ("sent", False)
    assert sent["sent_by"] and sent["sent_at"]
    # Each stage went once (d-7, and d-3 if the pass ran before it was drafted).
    with stack.as_operator("notifications") as c:
        final = wait_for("each recorded reminder in the sink, once", lambda: (
            v := c.get(URL).json()) and len(mails()) == len(v["reminders"]) and v,
            timeout=30)
    assert "d-7" in final["reminders"] and final["state"] == "sent"
