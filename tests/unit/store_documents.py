"""A stored document of each service's collections, as its store writes it."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

from bson import json_util
from bson.json_util import JSONOptions

STORED = Path(__file__).resolve().parents[1] / "fixtures" / "stored"
JSON = JSONOptions(tz_aware=True, tzinfo=UTC)


def stored(service: str, collection: str) -> dict[str, Any]:
    path = STORED / service / f"{collection}.json"
    return dict(json_util.loads(path.read_text(encoding="utf-8"), json_options=JSON))
