"""`open_chapter`: the one call chapters 4-6 make. It resolves the switch, runs live if asked, and serves records.

Stored records are looked up by name anywhere under `precomputed/` (a contributor's run may sit in its
own sub-folder); when several records share a name, the real-weights one wins, then full-size random
weights, then the miniature, then the newest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from lib.chapters import provenance
from lib.chapters.switch import (PRECOMPUTED, chapter_spec, live_dir, miniature_requested, resolve_mode, run_live,
                                 stored_root)
from lib.errors import RecordError
from lib.records import iter_records

SOURCE_PREFERENCE = ("weights", "random-weights-full-size", "miniature")


def all_records(root: Path = PRECOMPUTED) -> list[dict[str, Any]]:
    """Every record under root (any depth), validated, each with its folder under the key `_folder`."""
    return list(iter_records(root))


def pick(records: Iterable[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The preferred record called `name`: real weights first, then by source order, then the newest."""
    found = sorted((r for r in records if r["name"] == name), key=lambda r: r.get("created", ""), reverse=True)
    found.sort(key=lambda r: SOURCE_PREFERENCE.index(r["source"]))  # stable: newest first within a source
    return found[0] if found else None


@dataclass
class ChapterSession:
    """A chapter's records, live or stored, with their provenance."""

    chapter: str
    mode: str
    miniature: bool
    root: Path
    _records: dict[str, dict[str, Any]] = field(default_factory=dict)
    _all: list[dict[str, Any]] | None = None

    def record(self, name: str) -> dict[str, Any]:
        """The record called `name` (RecordError naming the folder and the fix when it is missing)."""
        if name not in self._records:
            if self._all is None:
                self._all = all_records(self.root)
            found = pick(self._all, name)
            if found is None:
                raise RecordError(f"{self.root}: no record named {name!r}; run `python -m lib precompute"
                                  f"{' --miniature' if self.miniature else ''}` to write it")
            self._records[name] = found
        return self._records[name]

    def records(self) -> list[dict[str, Any]]:
        """Every record the chapter needs."""
        return [self.record(n) for n in chapter_spec(self.chapter)["records"]]

    def image(self, name: str, item_id: str):
        """The PIL image of one item of a record."""
        from PIL import Image

        record = self.record(name)
        return Image.open(Path(record["_folder"]) / item(record, item_id)["image"]).convert("RGB")

    def file(self, name: str, key: str) -> Path:
        """A file listed under `files` in a record (e.g. the comparison grid)."""
        record = self.record(name)
        return Path(record["_folder"]) / record["files"][key]

    def caption(self, *names: str) -> str:
        """Provenance line(s) for the records a figure shows."""
        return " ".join(provenance.caption(self.record(n)) for n in names)

    def notice(self, *names: str) -> provenance.Notice:
        """The warning box for what follows (empty when every record comes from the real weights)."""
        return provenance.notice([self.record(n) for n in (names or chapter_spec(self.chapter)["records"])])

    @property
    def sources(self) -> list[str]:
        """The distinct sources of the chapter's records."""
        return sorted({r["source"] for r in self.records()})

    def describe(self) -> str:
        """One sentence on how this chapter was executed."""
        how = ("ran the models live" + (" (miniature models)" if self.miniature else "")) if self.mode == "live" \
            else f"read stored records from {self.root.name}/"
        return f"This page {how}; record sources: {', '.join(self.sources)}."


def item(record: dict[str, Any], item_id: str) -> dict[str, Any]:
    """One item of a record by id; RecordError naming the record when absent."""
    for it in record["items"]:
        if it["id"] == item_id:
            return it
    raise RecordError(f"{record.get('_folder', record['name'])}: no item {item_id!r}; "
                      f"items: {', '.join(i['id'] for i in record['items'])}")


def open_chapter(chapter: str, mode: str | None = None, root: Path | None = None) -> ChapterSession:
    """Resolve DME_MODE for a chapter; live runs generate its records now, stored runs read precomputed/."""
    spec = chapter_spec(chapter)
    resolved = resolve_mode(spec["models"], mode)
    miniature = miniature_requested()
    if resolved == "live":
        out = root or live_dir(chapter, miniature)
        run_live(spec["records"], out, miniature)
        session = ChapterSession(chapter, "live", miniature, out)
    else:
        session = ChapterSession(chapter, "stored", False, root or stored_root())
    session.records()  # fail here, at the top of the chapter, if anything is missing
    return session
