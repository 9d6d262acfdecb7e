"""The catalogue of the platform's event types (CloudEvents `type`), one definition each.
Every type here has a JSON Schema under `schemas/events/` and a message in
`schemas/asyncapi.yaml` (tests/unit/common/test_event_types.py checks both ways)."""

from __future__ import annotations

SUBMISSION_REQUESTED = "vn.emulation.submission.requested"
SUBMISSION_ACCEPTED = "vn.emulation.submission.accepted"
SCORE_COMPUTED = "vn.emulation.score.computed"
CLUSTER_STANDINGS = "vn.emulation.cluster.standings"
RECOGNITION_PROPOSALS = "vn.emulation.recognition.proposals"
CLUSTER_LEADERSHIP = "vn.emulation.cluster.leadership"
REGISTRY_UNIT = "vn.emulation.registry.unit"
REGISTRY_CLUSTER = "vn.emulation.registry.cluster"
REGISTRY_CONFERENCE = "vn.emulation.registry.conference"
REGISTRY_DEADLINE = "vn.emulation.registry.deadline"
DEAD_LETTER = "vn.emulation.dead-letter"
# A reminder's outcome: the prefix and its status (schemas/events/notification.v2.json).
NOTIFICATION_PREFIX = "vn.emulation.notification."
NOTIFICATION_STATUSES = ("sent", "delivered", "failed", "deferred", "cancelled", "skipped",
                         "unknown", "escalated")


def notification(status: str) -> str:
    """The type of a notification event of `status`."""
    return NOTIFICATION_PREFIX + status


ALL = frozenset({
    SUBMISSION_REQUESTED, SUBMISSION_ACCEPTED, SCORE_COMPUTED, CLUSTER_STANDINGS,
    RECOGNITION_PROPOSALS, CLUSTER_LEADERSHIP, REGISTRY_UNIT, REGISTRY_CLUSTER,
    REGISTRY_CONFERENCE, REGISTRY_DEADLINE, DEAD_LETTER,
    *(notification(s) for s in NOTIFICATION_STATUSES),
})
