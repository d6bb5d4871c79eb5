"""`python -m lib.chapters book/05_flux_schnell_gguf.md`: execute a chapter in a fresh kernel, outside the book build.

With `DME_MODE=live DME_MINIATURE=1` this re-runs chapters 4-6 end to end on the miniature models (any CPU).
Writes nothing into the repository; prints how the chapter ran and exits 1 if a cell failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROBE = "print(session.describe()) if 'session' in globals() else None"


def execute_chapter(path: Path, extra_source: str | None = None, timeout: int = 900):
    """Run a MyST chapter (read with jupytext) cell by cell in a fresh python3 kernel; returns the notebook."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = jupytext.read(path)
    if extra_source:
        nb.cells.append(nbformat.v4.new_code_cell(extra_source))
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__.strip().splitlines()[0].strip("`"), file=sys.stderr)
        return 2
    from nbclient.exceptions import CellExecutionError

    for chapter in args:
        try:
            nb = execute_chapter(Path(chapter), PROBE)
        except CellExecutionError as err:
            print(f"{chapter}: a cell failed\n{err}", file=sys.stderr)
            return 1
        print(f"{chapter}: ok. " + "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
