"""One catalogue of event types (services/common/event_types.py, issue 18): the types
the JSON Schemas define are exactly the catalogue's, and no service spells a type out."""

from __future__ import annotations

import re
from pathlib import Path

from services.common import event_types

ROOT = Path(__file__).resolve().parents[3]
TYPE = re.compile(r"vn\.emulation\.[a-z-]+(?:\.[a-z-]+)*")
LITERAL = re.compile(r"[\"']vn\.emulation\.")  # a string literal, not a docstring's mention


def test_the_schemas_define_exactly_the_catalogues_types() -> None:
    defined = {t for path in (ROOT / "schemas" / "events").glob("*.json")
               for t in TYPE.findall(path.read_text(encoding="utf-8"))}
    assert defined == event_types.ALL


def test_no_service_spells_an_event_type_out() -> None:
    catalogue = ROOT / "services" / "common" / "event_types.py"
    spelled = [f"{path.relative_to(ROOT)}: {t}"
               for path in sorted((ROOT / "services").rglob("*.py")) if path != catalogue
               for t in LITERAL.findall(path.read_text(encoding="utf-8"))]
    assert spelled == []


def test_a_notification_type_is_its_status_under_the_prefix() -> None:
    assert event_types.notification("sent") == "vn.emulation.notification.sent"
    assert event_types.notification("sent") in event_types.ALL
