"""Time chapters one by one, each in a fresh kernel, as the book build and nbval run them.

    python -m lib.tools.bench_chapters book/01_diffusion_fundamentals.md book/03_flow_matching.md [--budget 180]

Each chapter is read with jupytext and executed by nbclient with cwd = book/ and DME_BOOK_BUILD=1
(plotly renders as HTML, as in the build). Prints the machine and versions, then seconds per chapter against the
budget; exits 1 if a chapter fails or runs over. Time it on an otherwise idle machine: a shared CPU times the
other job too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_chapter(path: Path, timeout: int = 900) -> float:
    """Execute one chapter in a fresh kernel; return wall-clock seconds (kernel start included)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    os.environ["DME_BOOK_BUILD"] = "1"  # the kernel inherits it
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.resolve().parent)}}).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.tools.bench_chapters", description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", type=Path, help="chapter .md files")
    parser.add_argument("--budget", type=float, default=180.0, help="seconds allowed per chapter (default 180)")
    args = parser.parse_args(argv)
    from lib.machine import device_info, versions

    print("machine:", json.dumps(device_info("cpu")))
    print("versions:", json.dumps(versions()), flush=True)
    failed = False
    for chapter in args.chapters:
        if not chapter.exists():
            print(f"{chapter}: no such file")
            failed = True
            continue
        try:
            seconds = run_chapter(chapter)
        except Exception as exc:  # a failing cell: report and go on with the next chapter
            print(f"{chapter}: FAILED ({type(exc).__name__}: {str(exc).splitlines()[-1] if str(exc) else ''})")
            failed = True
            continue
        ok = seconds <= args.budget
        failed |= not ok
        print(f"{chapter}: {seconds:6.1f} s   budget {args.budget:.0f} s   {'ok' if ok else 'OVER BUDGET'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
