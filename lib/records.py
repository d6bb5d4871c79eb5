"""The precomputed/ format: one self-describing record per run (record.json + PNG files), strict, atomic, resumable.

A record folder holds `record.json` and the images it names. Each item carries its own provenance (`made`:
when, on which machine, with which versions, from which weights), written once when its image is made and
never rewritten by a resumed run; the record's summary (`Record.device`, `.versions`, `.created`) is derived
from its items. Every write goes to a temporary file that then replaces the old one, so a killed run leaves
the previous state. Reading checks everything — types, paths that stay inside the folder, images that decode —
and a failure names the file and gives the command that rewrites it. See precomputed/README.md.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from lib.errors import RecordError

FORMAT = "dme-record/2"
OLD_FORMATS = ("dme-record/1",)
SOURCES = ("miniature", "trained-miniature", "weights", "random-weights-full-size")
TEMP_MARK = ".dme-tmp-"  # temporary files are `.<name>.dme-tmp-<random>`; stale ones are removed on the next write
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_NUMBER = (int, float)


# ---------------------------------------------------------------------------------------------- writing

def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, then os.replace it over `path`.

    The temp file is created by the writer itself (open(), PIL, safetensors), so it gets the umask's normal
    permissions, which the rename keeps (mkstemp's 0600 would survive it and hide records from other users)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files a killed run left in `folder` (e.g. a half-saved PNG); returns what was removed."""
    removed = []
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(".") and TEMP_MARK in p.name and p.is_file():
                p.unlink()
                removed.append(p)
    return removed


# ---------------------------------------------------------------------------------------------- the record

def repair_command(name: str, source: str | None, out: Path) -> str:
    """The command that rewrites record `name` from scratch into folder `out`."""
    if source == "random-weights-full-size" or name.startswith("rehearsal-"):
        return f"python -m lib rehearse --only {name.removeprefix('rehearsal-')} --out {out} --rerun"
    flag = {"miniature": " --miniature --random-weights", "trained-miniature": " --miniature"}.get(source or "", "")
    return f"python -m lib precompute{flag} --only {name} --out {out} --overwrite"


@dataclass
class Record:
    """One validated record: its folder, what it holds, and each item's provenance."""

    folder: Path
    name: str
    description: str
    source: str
    complete: bool
    items: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """Its record.json."""
        return self.folder / "record.json"

    def item(self, item_id: str) -> dict[str, Any]:
        """One item by id; RecordError naming the record when absent."""
        for it in self.items:
            if it["id"] == item_id:
                return it
        raise RecordError(f"{self.path}: no item {item_id!r}; items: {', '.join(i['id'] for i in self.items)}")

    def image_path(self, item_id: str) -> Path:
        """The PNG file of one item."""
        return self.folder / self.item(item_id)["image"]

    def image(self, item_id: str):
        """The PIL image (RGB) of one item."""
        from PIL import Image

        with Image.open(self.image_path(item_id)) as im:
            return im.convert("RGB")

    def file(self, key: str) -> Path:
        """A file listed under `files` (e.g. the comparison grid)."""
        if key not in self.files:
            raise RecordError(f"{self.path}: no file {key!r}; files: {', '.join(self.files) or 'none'}")
        return self.folder / self.files[key]

    # The summary, derived from the items as made (several machines may have contributed to one record).
    @property
    def made(self) -> list[dict[str, Any]]:
        """Each item's provenance, in item order."""
        return [it["made"] for it in self.items]

    @property
    def created(self) -> str:
        """When the newest item was made (ISO 8601, UTC)."""
        return max((m["created"] for m in self.made), default="")

    @property
    def device(self) -> dict[str, Any]:
        """The machine of the newest item (`devices` lists them all when several contributed)."""
        return max(self.made, key=lambda m: m["created"])["device"] if self.items else {}

    @property
    def devices(self) -> list[dict[str, Any]]:
        """The distinct machines the items were made on."""
        out: list[dict[str, Any]] = []
        for m in self.made:
            if m["device"] not in out:
                out.append(m["device"])
        return out

    @property
    def versions(self) -> dict[str, Any]:
        """The library versions of the newest item."""
        return max(self.made, key=lambda m: m["created"])["versions"] if self.items else {}

    def to_json(self) -> dict[str, Any]:
        """The record.json content."""
        return {"format": FORMAT, "name": self.name, "description": self.description, "source": self.source,
                "complete": self.complete, "items": self.items, "files": self.files, "tables": self.tables}


class _Check:
    """Collects the context of a validation so every failure names the file and the repair command."""

    def __init__(self, path: Path, source: str | None = None):
        self.path, self.name, self.source = path, path.parent.name, source  # precompute writes <out>/<name>/

    def fail(self, what: str, where: Path | None = None) -> RecordError:
        if self.source is None and "trained-miniature" in self.path.parts:
            self.source = "trained-miniature"
        elif self.source is None and "miniature" in self.path.parts:
            self.source = "miniature"
        fix = repair_command(self.name, self.source, self.path.parent.parent)
        return RecordError(f"{where or self.path}: {what}; to rewrite it, run `{fix}`")

    def kind(self, value: Any, types: type | tuple, what: str) -> Any:
        allowed = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise self.fail(f"{what} must be {_type_words(types)}, not {type(value).__name__} {str(value)[:40]!r}")
        return value

    def file_name(self, value: Any, what: str) -> Path:
        """A plain PNG file name inside the record's folder (no sub-folders, no '..', no absolute path)."""
        self.kind(value, str, what)
        folder = self.path.parent
        target = (folder / value).resolve()
        if "/" in value or "\\" in value or value.startswith(".") or target.parent != folder.resolve():
            raise self.fail(f"{what} {value!r} is not a file name inside the record's folder")
        if not value.lower().endswith(".png"):
            raise self.fail(f"{what} {value!r} is not a .png file")
        return folder / value


def _type_words(types: type | tuple) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list",
             dict: "an object"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_image(check: _Check, path: Path, what: str) -> None:
    from PIL import Image

    if not path.is_file():
        raise check.fail(f"{what} is missing", path)
    try:
        with Image.open(path) as im:
            im.load()  # decodes every pixel: a truncated or corrupt PNG fails here, not later in a chapter
    except (OSError, SyntaxError, ValueError) as err:
        raise check.fail(f"{what} does not decode ({err})", path) from err


def _check_item(check: _Check, item: Any, index: int, source: str) -> None:
    check.kind(item, dict, f"item {index}")
    item_id = check.kind(item.get("id"), str, f"item {index}'s id")
    if not _ID.match(item_id):
        raise check.fail(f"item id {item_id!r} must be letters, digits, '.', '_' or '-'")
    what = f"item {item_id!r}"
    for key in ("model", "prompt"):
        check.kind(item.get(key), str, f"{what}'s {key}")
    check.kind(item.get("seed"), int, f"{what}'s seed")
    check.kind(item.get("config"), dict, f"{what}'s config")
    check.kind(item.get("dtype"), str, f"{what}'s dtype")
    check.kind(item.get("seconds"), _NUMBER, f"{what}'s seconds")
    check.kind(item.get("peak_bytes"), int, f"{what}'s peak_bytes")
    for field_name in ("stages", "loads"):  # loads: optional (format-1 records have none)
        for s in check.kind(item.get(field_name, []), list, f"{what}'s {field_name}"):
            check.kind(s, dict, f"an entry of {what}'s {field_name}")
            check.kind(s.get("name"), str, f"a name in {what}'s {field_name}")
            check.kind(s.get("seconds"), _NUMBER, f"{what}'s {s['name']} seconds")
            for key in ("peak_bytes", "weights_bytes"):
                check.kind(s.get(key), int, f"{what}'s {s['name']} {key}")
    made = check.kind(item.get("made"), dict, f"{what}'s provenance (made)")
    check.kind(made.get("created"), str, f"{what}'s made.created")
    check.kind(made.get("device"), dict, f"{what}'s made.device")
    check.kind(made.get("versions"), dict, f"{what}'s made.versions")
    if made.get("source") != source:
        raise check.fail(f"{what} was made from source {made.get('source')!r} but the record's source is {source!r}")
    check.file_name(item.get("image"), f"{what}'s image")


def validate(data: Any, path: Path, require_complete: bool = True, check_images: bool = True) -> Record:
    """Check a loaded record.json (types, file names, images that decode) and return it as a Record."""
    check = _Check(path)
    check.kind(data, dict, "the record")
    check.source = data.get("source") if data.get("source") in SOURCES else None
    fmt = data.get("format")
    if fmt in OLD_FORMATS:
        raise check.fail(f"format {fmt!r} is an older format; convert it with `python -m lib.records migrate "
                         f"{path.parent}` (or rewrite it)")
    if fmt != FORMAT:
        raise check.fail(f"format {fmt!r} is not {FORMAT!r}")
    name = check.kind(data.get("name"), str, "name")
    if name != path.parent.name:
        raise check.fail(f"name {name!r} does not match its folder {path.parent.name!r}")
    description = check.kind(data.get("description"), str, "description")
    if data.get("source") not in SOURCES:
        raise check.fail(f"source {data.get('source')!r} is not one of {', '.join(SOURCES)}")
    complete = check.kind(data.get("complete"), bool, "complete")
    if require_complete and not complete:
        raise check.fail("the run that wrote it did not finish (complete: false); re-run its command to resume it")
    items = check.kind(data.get("items"), list, "items")
    seen: set[str] = set()
    for index, item in enumerate(items):
        _check_item(check, item, index, data["source"])
        if item["id"] in seen:
            raise check.fail(f"item id {item['id']!r} appears twice")
        seen.add(item["id"])
    files = check.kind(data.get("files", {}), dict, "files")
    for key, value in files.items():
        check.file_name(value, f"file {key!r}")
    tables = check.kind(data.get("tables", {}), dict, "tables")
    for key, rows in tables.items():
        for row in check.kind(rows, list, f"table {key!r}"):
            check.kind(row, dict, f"a row of table {key!r}")
    if check_images:
        for item in items:
            _check_image(check, path.parent / item["image"], f"image of item {item['id']!r}")
        for key, value in files.items():
            _check_image(check, path.parent / value, f"file {key!r}")
    return Record(path.parent, name, description, data["source"], complete, items, files, tables)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RecordError(f"{path}: no such record; run `python -m lib precompute` (add --miniature for the "
                          "miniature models) to write it") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _Check(path).fail(f"corrupt or truncated JSON ({getattr(err, 'msg', err)})") from err


def load_record(path: Path | str, require_complete: bool = True) -> Record:
    """Read and validate one record (its folder or its record.json)."""
    path = Path(path)
    if path.is_dir() or path.name != "record.json":
        path = path / "record.json"
    return validate(_read_json(path), path, require_complete)


def record_paths(root: Path | str, name: str | None = None) -> list[Path]:
    """The record.json files at any depth under root (only those of records called `name`, if given)."""
    pattern = f"{name}/record.json" if name else "record.json"
    return sorted(p for p in Path(root).rglob(pattern) if p.is_file())


def iter_records(root: Path | str, name: str | None = None, require_complete: bool = True) -> Iterator[Record]:
    """Every record at any depth under `root` (or every one called `name`), validated.

    Any depth, because records live in `precomputed/miniature/` and in one folder per contributing machine
    under `precomputed/weights/`. With `name`, only those records are read, so a corrupt record elsewhere
    does not stop a chapter that does not need it."""
    for path in record_paths(root, name):
        yield load_record(path, require_complete)


# ---------------------------------------------------------------------------------------------- migration

def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A dme-record/1 record.json as dme-record/2: its record-level provenance copied onto every item.

    Format 1 did not record the library's version (versions.lib stays None, so a resumed run regenerates
    rather than trusting it) and named the miniature build in `miniature_version`."""
    build = f"miniature-{data['miniature_version']}" if data.get("miniature_version") else None
    items = []
    for item in data.get("items", []):
        item = dict(item)
        device = {**data.get("device", {}), "device": item.pop("device", data.get("device", {}).get("device"))}
        item["made"] = {"created": data.get("created", ""), "source": data.get("source"), "build": build,
                        "device": device, "versions": {"lib": None, **data.get("versions", {})}}
        items.append(item)
    return {"format": FORMAT, "name": data.get("name"), "description": data.get("description"),
            "source": data.get("source"), "complete": data.get("complete"), "items": items,
            "files": data.get("files", {}), "tables": data.get("tables", {})}


def migrate(root: Path | str) -> list[Path]:
    """Convert every older record under root to the current format, in place and atomically; returns them."""
    done = []
    for path in record_paths(root):
        data = _read_json(path)
        if isinstance(data, dict) and data.get("format") == "dme-record/1":
            new = migrate_v1(data)
            validate(new, path, require_complete=False)
            text = json.dumps(new, indent=1)
            atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
            done.append(path)
    return done


# ---------------------------------------------------------------------------------------------- the writer

def settings_differ(stored: dict[str, Any], planned: dict[str, Any]) -> list[str]:
    """What differs between a stored item and the planned one, as 'key: old -> new' (empty when they match).

    Compared: the full config, the set's extra fields, the source, the build of the weights, the library
    version, and (when planned) the resolved dtype and device type: an item made otherwise is not a result of
    this command, and must not sit next to its results in one comparison."""
    diffs = []
    for key, new in planned["config"].items():
        old = stored.get("config", {}).get(key)
        if old != new:
            diffs.append(f"{key}: {old!r} -> {new!r}")
    for key, new in planned.get("extra", {}).items():
        if stored.get(key) != new:
            diffs.append(f"{key}: {stored.get(key)!r} -> {new!r}")
    made = stored.get("made", {})
    for key in ("source", "build"):
        if made.get(key) != planned.get(key):
            diffs.append(f"{key}: {made.get(key)!r} -> {planned.get(key)!r}")
    if made.get("versions", {}).get("lib") != planned.get("lib"):
        diffs.append(f"library version: {made.get('versions', {}).get('lib')!r} -> {planned.get('lib')!r}")
    if "dtype" in planned and stored.get("dtype") != planned["dtype"]:
        diffs.append(f"dtype: {stored.get('dtype')!r} -> {planned['dtype']!r}")
    device = made.get("device", {}).get("device")
    if "device" in planned and device != planned["device"]:
        diffs.append(f"device: {device!r} -> {planned['device']!r}")
    return diffs


class RecordWriter:
    """Writes one run's record item by item; a re-run skips the items already stored with the same settings.

    A stored item made with other settings (another seed, step count, model build or library version) is
    never mixed with new ones: `plan` refuses with a RecordError, unless `overwrite`, which then starts the
    record afresh (a record that matches is resumed either way; a corrupt one is replaced only with overwrite)."""

    def __init__(self, root: Path | str, name: str, description: str, source: str, overwrite: bool = False):
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        self.folder = Path(root) / name
        self.path = self.folder / "record.json"
        self.overwrite = overwrite
        remove_stale_temps(self.folder)
        self.record = Record(self.folder, name, description, source, False)
        if not self.path.exists():
            return
        try:
            old = load_record(self.path, require_complete=False)
        except RecordError:
            if overwrite:
                return  # unreadable: start afresh, as asked
            raise
        if old.source == source:
            self.record = old
            self.record.description = description
        elif not overwrite:
            raise RecordError(
                f"{self.folder} holds a record of source {old.source!r}, not {source!r}; pass --overwrite to "
                "replace it, or write elsewhere with --out")

    def plan(self, planned: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The planned items still to make. Each planned item is {id, config, extra, source, build, lib}.

        Stored items that match their planned item are kept (resume); a stored item that matches none, or
        differs in its settings, raises RecordError listing the differences (with overwrite: starts afresh)."""
        by_id = {p["id"]: p for p in planned}
        stale = []
        for it in self.record.items:
            p = by_id.get(it["id"])
            if p is None:
                stale.append(f"{it['id']}: not part of this run")
            else:
                stale += [f"{it['id']}: {d}" for d in settings_differ(it, p)]
        if stale and self.overwrite:
            self.record.items, self.record.files, self.record.tables = [], {}, {}
        elif stale:
            shown = "; ".join(stale[:4]) + (f"; and {len(stale) - 4} more" if len(stale) > 4 else "")
            raise RecordError(f"{self.folder} holds results of other settings ({shown}); pass --overwrite to "
                              "replace that record, or write elsewhere with --out")
        return [p for p in planned if not self.done(p["id"])]

    def done(self, item_id: str) -> bool:
        """True when an item with this id and its image are stored."""
        return any(it["id"] == item_id and (self.folder / it["image"]).is_file() for it in self.record.items)

    def add(self, item: dict[str, Any], image: Any) -> None:
        """Store one item (its PIL image as <id>.png, then record.json), atomically and in that order."""
        item = {**item, "image": f"{item['id']}.png"}
        atomic_write(self.folder / item["image"], lambda p: image.save(p, format="PNG", optimize=True))
        self.record.items = [i for i in self.record.items if i["id"] != item["id"]] + [item]
        self.record.complete = False
        self.save()

    def add_file(self, key: str, filename: str, image: Any) -> None:
        """Store an extra PNG (e.g. the comparison grid) listed under `files`."""
        atomic_write(self.folder / filename, lambda p: image.save(p, format="PNG", optimize=True))
        self.record.files[key] = filename
        self.save()

    def set_table(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Store a table (list of rows) under `tables`."""
        self.record.tables[key] = rows
        self.save()

    def finish(self) -> Record:
        """Mark the run complete, remove PNGs the record no longer lists, and return the validated record."""
        self.record.complete = True
        self.save()
        listed = {it["image"] for it in self.record.items} | set(self.record.files.values())
        for png in self.folder.glob("*.png"):
            if png.name not in listed:
                png.unlink()  # left by an overwritten run
        return load_record(self.path)

    def save(self) -> None:
        """Rewrite record.json atomically."""
        text = json.dumps(self.record.to_json(), indent=1)
        atomic_write(self.path, lambda p: p.write_text(text, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    """`python -m lib.records check|migrate FOLDER`: validate every record under FOLDER, or migrate old ones."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m lib.records", description=main.__doc__)
    parser.add_argument("action", choices=("check", "migrate"))
    parser.add_argument("folder", type=Path)
    a = parser.parse_args(argv)
    try:
        if a.action == "migrate":
            for path in migrate(a.folder):
                print(f"migrated {path}")
        records = list(iter_records(a.folder))
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(records)} records under {a.folder} validate ({FORMAT})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
