"""python -m services.scoring [serve | rescore --period P --rubric-version V]"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

from services.common.runtime import serve
from services.scoring.settings import ScoringSettings

if TYPE_CHECKING:
    from services.scoring.rescore import RescoreSummary


async def rescore(settings: ScoringSettings, period: int, version: str) -> RescoreSummary:
    """The operator's rescore without the HTTP service: same code, same database and
    topics (the EMULATION_* settings), the real clock."""
    from services.common.clock import Clock
    from services.common.kafka import EventProducer
    from services.common.mongo import async_database
    from services.common.progress import ProgressBar
    from services.scoring.bootstrap import build_parts

    client, db = async_database(settings.mongo_url, settings.mongo_db,
                                settings.mongo_serial_writes)
    producer = EventProducer(settings.kafka_bootstrap, "scoring-rescore",
                             settings.produce_timeout_seconds, auth=settings.kafka_auth())
    try:
        parts = build_parts(settings, db, producer, Clock())
        bar = ProgressBar()
        try:
            result = await parts.rescorer.rescore(period, version, bar)
        finally:
            bar.close()
        return result
    finally:
        await producer.stop()
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.scoring")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API and the Kafka consumers (default)")
    cmd = sub.add_parser("rescore", help="score a period again under a rubric version")
    cmd.add_argument("--period", type=int, required=True)
    cmd.add_argument("--rubric-version", required=True)
    args = parser.parse_args(argv)
    settings = ScoringSettings()
    if args.command == "rescore":
        from services.scoring.domain import RescoreRefused

        if not 2000 <= args.period <= 2100:
            parser.error("--period must be a year between 2000 and 2100")
        try:
            result = asyncio.run(rescore(settings, args.period, args.rubric_version))
        except RescoreRefused as exc:
            print(f"refused ({exc.code}): {exc.detail}", file=sys.stderr)
            return 2
        print(json.dumps(result))
        return 0
    serve("services.scoring.bootstrap:create_app", settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
