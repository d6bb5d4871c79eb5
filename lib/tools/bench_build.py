"""Measure the book's build budgets and print them with the machine and versions.

    python -m lib.tools.bench_build [--tests]

- the foundation pages alone (intro, "Running this book", references), cold: budget 60 s;
- the whole book, cold (fresh output folder, so every chapter executes; what CI's site test does);
- the whole book again with no change (served from the execution cache): budget 10 s;
- with --tests, the whole `python -m pytest` run (budget 5 min, set when the book had only its foundation).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from lib.tools.build import ROOT, build_book

BUDGETS_S = {"foundation pages, cold": 60.0, "whole book, cold": None, "whole book, no change": 10.0, "test run": 300.0}
FOUNDATION_PAGES = ("book/intro", "book/running", "book/references")


def machine() -> str:
    """A one-line description of this machine and the versions that matter."""
    pkgs = ", ".join(f"{p} {version(p)}" for p in ("jupyter-book", "sphinx", "myst-nb", "plotly", "torch"))
    return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {pkgs}"


def foundation_copy(dest: Path) -> Path:
    """A copy of the book holding only the foundation pages (same configuration, a shorter table of contents)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "_config.yml", dest / "_config.yml")
    shutil.copy(ROOT / "CITATION.cff", dest / "CITATION.cff")  # the footer and cite page read it
    shutil.copytree(ROOT / "book" / "assets", dest / "book" / "assets")
    for name in ("intro.md", "running.md", "references.md", "references.bib"):
        shutil.copy(ROOT / "book" / name, dest / "book" / name)
    chapters = "\n".join(f"      - file: {p}" for p in FOUNDATION_PAGES[1:])
    (dest / "_toc.yml").write_text(f"format: jb-book\nroot: {FOUNDATION_PAGES[0]}\nparts:\n  - caption: Foundation\n    chapters:\n{chapters}\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.tools.bench_build", description=__doc__.splitlines()[0])
    parser.add_argument("--tests", action="store_true", help="also time the whole test run")
    args = parser.parse_args(argv)
    print(machine())
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = foundation_copy(Path(tmp, "src"))
        # not strict: the foundation pages link to chapters this copy leaves out
        proc, results["foundation pages, cold"] = build_book(Path(tmp, "foundation"), strict=False, root=src)
        if proc.returncode:
            print(proc.stdout[-3000:], proc.stderr[-2000:])
            print("foundation pages, cold FAILED")
            return 1
        runs = [("whole book, cold", True), ("whole book, no change", True)]
        for name, strict in runs:
            proc, seconds = build_book(Path(tmp, "book"), strict=strict)
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
        budget = BUDGETS_S[name]
        verdict = "no budget" if budget is None else ("ok" if seconds <= budget else "OVER BUDGET")
        failed |= verdict == "OVER BUDGET"
        print(f"{name:>24}: {seconds:7.1f} s   budget {'-' if budget is None else f'{budget:.0f} s':>6}   {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
