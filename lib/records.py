"""The precomputed/ format: one self-describing record per run (record.json + PNG files), atomic and resumable.

A record folder holds `record.json` and the images it names. Every write goes to a temporary file that
then replaces the old one (os.replace), so a killed run leaves the previous state; a re-run with the same
name skips the items already written. Reading checks the whole record and names the file at fault.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from lib.errors import RecordError

FORMAT = "dme-record/1"
SOURCES = ("miniature", "weights", "random-weights-full-size")
REQUIRED = ("format", "name", "description", "source", "created", "device", "versions", "complete", "items")
ITEM_REQUIRED = ("id", "stages")


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder, then os.replace it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sysctl(key: str) -> str | None:
    try:
        return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def device_info(device: str = "cpu") -> dict[str, Any]:
    """The machine a run used: chip or GPU name and memory, read in a way that works on every OS."""
    import psutil

    info: dict[str, Any] = {"device": device, "platform": platform.platform(), "cpu_count": os.cpu_count()}
    if sys.platform == "darwin":
        info["chip"] = _sysctl("machdep.cpu.brand_string")
        mem = _sysctl("hw.memsize")
        info["memory_bytes"] = int(mem) if mem and mem.isdigit() else psutil.virtual_memory().total
    else:
        info["chip"] = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    info["chip"] = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        info["memory_bytes"] = psutil.virtual_memory().total
    if device == "cuda":
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_bytes"] = torch.cuda.get_device_properties(0).total_memory
    return info


def versions() -> dict[str, str | None]:
    """Versions of python and the libraries that shape the results."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("torch", "diffusers", "transformers", "gguf", "accelerate", "huggingface_hub"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _fail(path: Path, what: str) -> RecordError:
    return RecordError(f"{path}: {what}; delete that folder and re-run `python -m lib precompute` to rewrite it")


def validate_record(data: Any, path: Path, require_complete: bool = True) -> dict[str, Any]:
    """Check a loaded record.json (and that its images exist); RecordError names the file at fault."""
    if not isinstance(data, dict):
        raise _fail(path, "not a record (expected a JSON object)")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise _fail(path, f"missing fields {', '.join(missing)}")
    if data["format"] != FORMAT:
        raise _fail(path, f"format {data['format']!r} is not {FORMAT!r}")
    if data["source"] not in SOURCES:
        raise _fail(path, f"source {data['source']!r} is not one of {', '.join(SOURCES)}")
    if require_complete and not data["complete"]:
        raise _fail(path, "the run that wrote it did not finish (complete: false)")
    for item in data["items"]:
        if not isinstance(item, dict) or any(k not in item for k in ITEM_REQUIRED):
            raise _fail(path, f"an item lacks {', '.join(ITEM_REQUIRED)}: {str(item)[:80]}")
        image = item.get("image")
        if image and not (path.parent / image).is_file():
            raise _fail(path.parent / image, f"image of item {item['id']!r} is missing")
    for name in data.get("files", {}).values():
        if not (path.parent / name).is_file():
            raise _fail(path.parent / name, "file listed in the record is missing")
    return data


def load_record(path: Path | str, require_complete: bool = True) -> dict[str, Any]:
    """Read and validate one record (its folder or its record.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "record.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RecordError(f"{path}: no such record; run `python -m lib precompute` to write it") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(path, f"corrupt or truncated JSON ({err.msg if hasattr(err, 'msg') else err})") from err
    return validate_record(data, path, require_complete)


def iter_records(root: Path | str, require_complete: bool = True) -> Iterator[dict[str, Any]]:
    """Every record at any depth under `root`, validated, each with its folder under the key `_folder`.

    Any depth, because records live in `precomputed/miniature/` and in one folder per contributing machine
    under `precomputed/weights/` (see `default_output_dir`)."""
    for path in sorted(Path(root).rglob("record.json")):
        record = load_record(path, require_complete)
        record["_folder"] = str(path.parent)
        yield record


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def default_output_dir(root: Path | str, source: str, device: str = "cpu") -> Path:
    """Where a run's records go under `root`: `miniature/`, or one folder per machine for real runs
    (e.g. `weights/apple-m2-16gb/`), so a contributed record never overwrites another machine's."""
    if source == "miniature":
        return Path(root) / "miniature"
    info = device_info(device)
    chip = info.get("gpu") or info.get("chip") or "unknown"
    return Path(root) / source / f"{_slug(chip)}-{round(info.get('memory_bytes', 0) / 2**30)}gb"


@dataclass
class RecordWriter:
    """Writes one run's record item by item; on reopening, items already written are skipped (resume)."""

    root: Path
    name: str
    description: str
    source: str
    device: str = "cpu"
    data: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        self.folder = Path(self.root) / self.name
        self.path = self.folder / "record.json"
        self.data = {}
        current_build = None
        if self.source == "miniature":
            from lib.miniature import MINIATURE_VERSION

            current_build = MINIATURE_VERSION  # which random-weight build made the images
        if self.path.exists():
            old = load_record(self.path, require_complete=False)
            # resume only a run of the same kind (and, for miniatures, of the same build)
            if old["source"] == self.source and old.get("miniature_version") == current_build:
                self.data = old
        if not self.data:
            self.data = {"format": FORMAT, "name": self.name, "description": self.description, "source": self.source,
                         "created": "", "device": {}, "versions": {}, "complete": False, "items": [], "files": {},
                         "tables": {}}
        self.data.update(description=self.description, device=device_info(self.device), versions=versions(),
                         created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        if current_build is not None:
            self.data["miniature_version"] = current_build

    def done(self, item_id: str) -> bool:
        """True when an item with this id (and its image) is already stored."""
        for item in self.data["items"]:
            if item["id"] == item_id:
                return not item.get("image") or (self.folder / item["image"]).is_file()
        return False

    def item(self, item_id: str) -> dict[str, Any] | None:
        """The stored item with this id, if any."""
        return next((i for i in self.data["items"] if i["id"] == item_id), None)

    def add(self, item: dict[str, Any], image: Any = None) -> None:
        """Store one item (and its PIL image as <id>.png), then rewrite record.json atomically."""
        item = dict(item)
        if image is not None:
            item["image"] = f"{item['id']}.png"
            _atomic_write(self.folder / item["image"], lambda p: image.save(p, format="PNG", optimize=True))
        self.data["items"] = [i for i in self.data["items"] if i["id"] != item["id"]] + [item]
        self.data["complete"] = False
        self._save()

    def add_file(self, key: str, filename: str, image: Any) -> None:
        """Store an extra PNG (e.g. the comparison grid) listed under `files`."""
        _atomic_write(self.folder / filename, lambda p: image.save(p, format="PNG", optimize=True))
        self.data["files"][key] = filename
        self._save()

    def set_table(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Store a table (list of rows) under `tables`."""
        self.data["tables"][key] = rows
        self._save()

    def finish(self) -> dict[str, Any]:
        """Mark the run complete and return the validated record."""
        self.data["complete"] = True
        self._save()
        return load_record(self.path)

    def _save(self) -> None:
        text = json.dumps(self.data, indent=1, sort_keys=False)
        _atomic_write(self.path, lambda p: p.write_text(text, encoding="utf-8"))
