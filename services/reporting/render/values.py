"""A report's values as every format can write them. The input bounds keep NaN, infinities
and lone surrogates out of new submissions, but a database may hold them from before
(MongoDB stores NaN; the Kafka way in read them): a report shows them as nothing and as
U+FFFD instead of answering 500 (Starlette refuses NaN; UTF-8 refuses a lone surrogate)."""

from __future__ import annotations

import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def writable(value: Any) -> Any:
    """`value` with every non-finite number as None and every lone surrogate as U+FFFD."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {writable(k): writable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [writable(v) for v in value]
    return value
