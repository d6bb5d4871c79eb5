"""The book's citation, from its one source, CITATION.cff: read it and make the BibTeX entry (page *Cite this book*).

The build's footer (lib.tools.sphinx_assets) and the cite page both read these, so title, authors and version
are written once.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION_FILE = "CITATION.cff"


def read_citation(path: str | Path | None = None) -> dict:
    """CITATION.cff as a dict: the one place the book's title, authors and version are written."""
    import yaml

    return yaml.safe_load(Path(path or ROOT / CITATION_FILE).read_text(encoding="utf-8"))


def _bibtex_author(author: dict) -> str:
    if "family-names" in author:
        return f"{author['family-names']}, {author.get('given-names', '')}".strip(", ")
    return "{" + author["name"] + "}"  # an organisation: braces keep BibTeX from splitting it into names


def citation_bibtex(cff: dict) -> str:
    """A BibTeX entry for the book made from a CITATION.cff dict (title, authors, version, year, licence, url)."""
    released = str(cff.get("date-released", ""))
    year = released[:4]
    first = cff["authors"][0]
    stem = re.sub(r"[^a-z0-9]+", "", (first.get("family-names") or cff["title"].split(":")[0]).lower())
    fields = {
        "title": "{" + cff["title"] + "}",
        "author": " and ".join(_bibtex_author(a) for a in cff["authors"]),
        "year": year,
        "version": cff.get("version"),
        "date": released,
        "license": cff.get("license"),
        "url": cff.get("url") or cff.get("repository-code"),
        "doi": cff.get("doi"),
    }
    body = ",\n".join(f"  {k:<8} = {{{v}}}" for k, v in fields.items() if v)
    return f"@software{{{stem}{year},\n{body}\n}}"
