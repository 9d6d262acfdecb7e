"""Stream entrypoints: the Kafka way in for systems that produce submissions themselves."""

from __future__ import annotations

from services.common import event_types
from services.common.envelope import Event
from services.common.inputs import check_parsed
from services.common.kafka import Handler, Rejected
from services.common.problems import Problem
from services.submissions.domain import SubmissionRefused
from services.submissions.service import Intake


def request_handler(intake: Intake) -> Handler:
    async def handle(event: Event) -> None:
        if event.type != event_types.SUBMISSION_REQUESTED:
            raise Rejected("unexpected-type", f"type {event.type} is not a submission request")
        if event.subject != event.data.get("unit_id"):
            raise Rejected("subject-mismatch",
                           f"subject {event.subject} differs from data.unit_id")
        try:
            # What HTTP's body parser refuses is refused here too (NaN, infinities,
            # integers past 64 bits, lone surrogates, `2024.0` where an integer belongs).
            data = check_parsed(event.data)
        except Problem as exc:
            raise Rejected(exc.code, exc.detail, **exc.extra) from exc
        try:
            # The event id is the idempotency key: a redelivered record is a replay. The
            # request arrived when the broker appended it, however late it is consumed.
            await intake.submit(data, idempotency_key=f"event:{event.id}",
                                arrived_at=event.appended_at)
        except SubmissionRefused as exc:
            raise Rejected(exc.code, exc.detail, **exc.extra) from exc
        # Unavailable is transient: the record loop retries it until the store is back.

    return handle
