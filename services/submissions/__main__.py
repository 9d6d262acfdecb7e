"""python -m services.submissions [serve | load-registry]"""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.common.runtime import serve
from services.submissions.settings import SubmissionsSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.submissions")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API and the Kafka intake (default)")
    sub.add_parser("load-registry", help="publish the unit registry on emulation.units.v1")
    args = parser.parse_args(argv)
    settings = SubmissionsSettings()
    if args.command == "load-registry":
        from services.submissions.publish_registry import publish_registry

        count = asyncio.run(publish_registry(settings))
        print(f"published {count} registry records")
        return 0
    serve("services.submissions.bootstrap:create_app", settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
