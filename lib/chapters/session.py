"""`open_chapter`: the one call chapters 4-6 make. It resolves the switch, runs live if asked, and serves records.

Stored records are looked up by name anywhere under `precomputed/` (a contributor's run may sit in its
own sub-folder); when several records share a name, the real-weights one wins, then the trained miniature,
then full-size random weights, then the random-weight miniature, then the newest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lib.chapters import provenance
from lib.chapters.switch import (PRECOMPUTED, chapter_spec, live_dir, miniature_requested, resolve_mode, run_live,
                                 stored_root)
from lib.errors import RecordError
from lib.records import Record, iter_records, load_record, record_paths

SOURCE_PREFERENCE = ("weights", "trained-miniature", "random-weights-full-size", "miniature")


def all_records(root: Path = PRECOMPUTED, broken: list[str] | None = None) -> list[Record]:
    """Every record under root (any depth), validated. With a `broken` list, a record that fails validation
    is left out and its message appended there (the results page lists what it could read and what it could not)."""
    if broken is None:
        return list(iter_records(root))
    out = []
    for path in record_paths(root):
        try:
            out.append(load_record(path))
        except RecordError as err:
            broken.append(str(err))
    return out


def pick(records: Iterable[Record], name: str) -> Record | None:
    """The preferred record called `name`: real weights first, then by source order, then the newest."""
    found = sorted((r for r in records if r.name == name), key=lambda r: r.created, reverse=True)
    found.sort(key=lambda r: SOURCE_PREFERENCE.index(r.source))  # stable: newest first within a source
    return found[0] if found else None


def find_record(root: Path, name: str) -> Record | None:
    """The preferred record called `name` under root; only records of that name are read and validated,
    so a broken record that this chapter does not need cannot stop it."""
    return pick(iter_records(root, name), name)


@dataclass
class ChapterSession:
    """A chapter's records, live or stored, with their provenance."""

    chapter: str
    mode: str
    miniature: bool
    root: Path
    _records: dict[str, Record] = field(default_factory=dict)

    def record(self, name: str) -> Record:
        """The record called `name` (RecordError naming the folder and the fix when it is missing)."""
        if name not in self._records:
            found = find_record(self.root, name)
            if found is None:
                raise RecordError(f"{self.root}: no record named {name!r}; run `python -m lib precompute"
                                  f"{' --miniature' if self.miniature else ''} --only {name}` to write it")
            self._records[name] = found
        return self._records[name]

    def records(self) -> list[Record]:
        """Every record the chapter needs."""
        return [self.record(n) for n in chapter_spec(self.chapter)["records"]]

    def image(self, name: str, item_id: str):
        """The PIL image of one item of a record."""
        return self.record(name).image(item_id)

    def file(self, name: str, key: str) -> Path:
        """A file listed under `files` in a record (e.g. the comparison grid)."""
        return self.record(name).file(key)

    def notice(self, *names: str) -> provenance.Notice:
        """The warning box for what follows (empty when every record comes from the real weights)."""
        return provenance.notice([self.record(n) for n in (names or chapter_spec(self.chapter)["records"])])

    @property
    def sources(self) -> list[str]:
        """The distinct sources of the chapter's records."""
        return sorted({r.source for r in self.records()})

    def describe(self) -> str:
        """One sentence on how this chapter was executed."""
        how = ("ran the models live" + (" (miniature models)" if self.miniature else "")) if self.mode == "live" \
            else f"read stored records from {self.root.name}/"
        return f"This page {how}; record sources: {', '.join(self.sources)}."


def item(record: Record, item_id: str) -> dict:
    """One item of a record by id; RecordError naming the record when absent."""
    return record.item(item_id)


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
