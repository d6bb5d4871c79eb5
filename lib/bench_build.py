"""Measure the book's build budgets and print them with the machine and versions.

    python -m lib.bench_build [--tests]

Cold build (fresh output folder, so every chapter executes), a no-change rebuild (served from the
execution cache), and with --tests the whole `python -m pytest` run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from lib.build import ROOT, build_book

BUDGETS_S = {"cold build": 60.0, "no-change rebuild": 10.0, "test run": 300.0}


def machine() -> str:
    """A one-line description of this machine and the versions that matter."""
    pkgs = ", ".join(f"{p} {version(p)}" for p in ("jupyter-book", "sphinx", "myst-nb", "plotly", "torch"))
    return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {pkgs}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.bench_build", description=__doc__.splitlines()[0])
    parser.add_argument("--tests", action="store_true", help="also time the whole test run")
    args = parser.parse_args(argv)
    print(machine())
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("cold build", "no-change rebuild"):
            proc, seconds = build_book(Path(tmp), strict=True)
            if proc.returncode:
                print(proc.stdout[-3000:], proc.stderr[-2000:])
                print(f"{name} FAILED")
                return 1
            results[name] = seconds
    if args.tests:
        start = time.perf_counter()
        rc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=ROOT).returncode
        results["test run"] = time.perf_counter() - start
        if rc:
            print(f"test run FAILED (exit {rc})")
    failed = False
    for name, seconds in results.items():
        ok = seconds <= BUDGETS_S[name]
        failed |= not ok
        print(f"{name:>18}: {seconds:7.1f} s   budget {BUDGETS_S[name]:5.0f} s   {'ok' if ok else 'OVER BUDGET'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
