"""Stream entrypoints: the Kafka way in for systems that produce submissions themselves,
and the outbox relay's timer. Every topic and agent of the service is declared here."""

from __future__ import annotations

from typing import Any

from services.common import event_types
from services.common.envelope import Event
from services.common.inputs import check_parsed
from services.common.kafka import Handler, Rejected, raw_topic
from services.common.problems import Problem
from services.common.runtime import Runtime
from services.common.topics import SUBMISSION_REQUESTS, SUBMISSION_REQUESTS_DLQ
from services.submissions.domain import SubmissionRefused
from services.submissions.proof import UnitKeys, UnitProof
from services.submissions.service import Intake
from services.submissions.settings import SubmissionsSettings


def register(rt: Runtime, intake: Intake, settings: SubmissionsSettings) -> None:
    """The intake agent on `emulation.submission-requests.v1` (its dead letters on the
    topic's DLQ, each record's proof of the unit checked first when required) and the
    outbox relay, every `relay_interval_seconds`."""
    requests = raw_topic(rt.faust_app, SUBMISSION_REQUESTS)
    proof = UnitProof(UnitKeys(settings.unit_keys_file)) if settings.require_unit_proof else None
    loop = rt.record_loop("submissions-intake", dead_letter_topic=SUBMISSION_REQUESTS_DLQ,
                          admit=proof.check if proof else None)
    loop.concurrency = settings.intake_consumer_concurrency
    handle = request_handler(intake)

    async def intake_agent(stream: Any) -> None:
        await loop.run(stream, handle)

    rt.faust_app.agent(requests, name="submission-requests")(intake_agent)

    async def relay() -> None:
        await intake.relay_once(settings.relay_grace_seconds)

    rt.every(settings.relay_interval_seconds, relay)


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
