"""Build the book from Python: used by the site test and the build benchmark.

    python -m lib.tools.build [--out DIR] [--strict]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def jupyter_book_command() -> list[str]:
    """The jupyter-book CLI of this interpreter's environment."""
    return [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())"]


def build_book(out: Path | None = None, strict: bool = True, root: Path = ROOT) -> tuple[subprocess.CompletedProcess, float]:
    """Build the book (into `out`/_build/html when given, else ./_build/html); return the process and seconds."""
    cmd = jupyter_book_command() + ["build", str(root)]
    if out is not None:
        cmd += ["--path-output", str(out)]
    if strict:  # every warning and every failing cell fails the build
        cmd += ["-W", "--keep-going"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    return proc, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.tools.build", description="Build the book.")
    parser.add_argument("--out", type=Path, help="output folder (its _build/ holds the site and the execution cache)")
    parser.add_argument("--strict", action="store_true", help="fail on any warning (-W --keep-going), as CI does")
    args = parser.parse_args(argv)
    proc, seconds = build_book(args.out, args.strict)
    print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    print(f"build {'ok' if proc.returncode == 0 else 'FAILED'} in {seconds:.1f} s")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
