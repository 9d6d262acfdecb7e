"""python -m services.reporting [serve | rebuild | export --period P --dir DIR]

serve    the HTTP API, the dashboard and the stream agents (default)
rebuild  drop the read models and replay the topics into them (works with the service
         running or stopped); prints what it replayed, exits 1 if it failed
export   fetch every report of a period from the running service (national in all
         formats, each cluster's) into a folder, and print where they are
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from services.common.runtime import serve
from services.reporting.settings import ReportingSettings


async def rebuild(settings: ReportingSettings) -> int:
    from services.common.clock import Clock
    from services.common.mongo import async_database, connect_odm
    from services.common.progress import ProgressBar
    from services.common.registry_replica import RegistryReplica
    from services.reporting.bootstrap import READ_MODELS, rebuilder_for
    from services.reporting.rebuild import RebuildError
    from services.reporting.service import Reports
    from services.reporting.store import ReadModel

    await asyncio.to_thread(connect_odm, settings.mongo_url, settings.mongo_db, READ_MODELS)
    mongo, db = async_database(settings.mongo_url, settings.mongo_db,
                                settings.mongo_serial_writes)
    try:
        reports = Reports(model=ReadModel(db), replica=RegistryReplica(db), clock=Clock())
        rebuilder = rebuilder_for(settings, reports)
        bar = ProgressBar()
        try:
            result = await rebuilder.run(bar)
        except RebuildError as exc:
            print(f"rebuild failed: {exc}", file=sys.stderr)
            return 1
        finally:
            bar.close()
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    finally:
        await mongo.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.reporting",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API, the dashboard and the agents (default)")
    sub.add_parser("rebuild", help="drop the read models and replay the topics")
    export = sub.add_parser("export", help="write every report of a period to a folder")
    export.add_argument("--period", type=int, required=True)
    export.add_argument("--dir", required=True, help="folder to write the reports into")
    export.add_argument("--url", help="the reporting service (default: from the settings)")
    export.add_argument("--credentials", help="credentials.json with the bootstrap admin's "
                        "token (default .local/credentials.json; or EMULATION_OPERATOR_TOKEN, "
                        "any account's token, viewer or higher)")
    args = parser.parse_args(argv)
    settings = ReportingSettings()
    if args.command == "rebuild":
        return asyncio.run(rebuild(settings))
    if args.command == "export":
        from services.reporting.export import export_reports

        return export_reports(settings, period=args.period, folder=args.dir, url=args.url,
                              credentials=args.credentials)
    serve("services.reporting.bootstrap:create_app", settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
