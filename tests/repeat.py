"""Run test files N times, each run on a fresh stack, and report how many runs passed and
which tests failed in which run: a test that fails one run in N is a failing test.

    .venv/bin/python -m tests.repeat --times 10 tests/faults \
        tests/integration/test_notifications_faults.py

Each run is a separate pytest process (so the session-scoped stack is started and
stopped anew, as in CI) with its own junit XML under .local/repeat/; runs are bounded
in time (--run-timeout) and the script stops by itself. Exit status: 0 only if every
run passed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def failures(junit: Path) -> list[str]:
    """The ids of the tests that failed or errored in one junit XML report."""
    if not junit.exists():
        return ["(no report: the run did not finish)"]
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            out.append(f"{case.get('classname')}::{case.get('name')}")
    return out


def run_once(paths: list[str], junit: Path, timeout: float) -> int:
    """One pytest run; past `timeout` it is interrupted as Ctrl-C would (so its stack
    fixture stops the stack it started), and killed a minute later if still there."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--junitxml={junit}", *paths], cwd=ROOT, env=dict(os.environ),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.repeat", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="test files or folders")
    parser.add_argument("--times", type=int, default=10)
    parser.add_argument("--run-timeout", type=float, default=1800.0,
                        help="seconds one run may take before it counts as failed")
    args = parser.parse_args(argv)
    out_dir = ROOT / ".local" / "repeat"
    out_dir.mkdir(parents=True, exist_ok=True)
    passed, failed_runs = 0, []
    for n in range(1, args.times + 1):
        junit = out_dir / f"run-{n}.xml"
        junit.unlink(missing_ok=True)
        started = time.monotonic()
        code = run_once(args.paths, junit, args.run_timeout)
        bad = failures(junit) if code != 0 else []
        if code == 0:
            passed += 1
        else:
            failed_runs.append((n, bad or [f"(pytest exit {code})"]))
        print(f"run {n}/{args.times}: {'passed' if code == 0 else 'FAILED'} in "
              f"{time.monotonic() - started:.0f} s" + (f": {', '.join(bad)}" if bad else ""),
              flush=True)
    print(f"{passed} of {args.times} runs passed")
    for n, bad in failed_runs:
        print(f"  run {n}: {'; '.join(bad)}")
    return 0 if passed == args.times else 1


if __name__ == "__main__":
    raise SystemExit(main())
