"""A Hugging Face hub cache written by hand, in the layout huggingface_hub's downloads leave behind.

    <cache>/models--<org>--<name>/
        blobs/<etag>                  file contents, named as the hub names them: the sha256 of a weight
                                      file (LFS), the git blob sha1 of a small text file
        snapshots/<commit>/<path>     relative symlinks into blobs/
        refs/main                     the commit `main` points at (no newline)

`snapshot_download(repo, local_files_only=True)` reads refs/main and returns snapshots/<commit>;
`hf_hub_download(repo, file, local_files_only=True)` returns the file's symlink there (huggingface_hub's
"Understand caching" guide). Every file is written to a temporary name and renamed into place; refs/main
and then our completion file `dme-rehearsal.json` are written last, so an interrupted build is never found
by huggingface_hub and is resumed file by file (a symlink exists only once its blob is complete).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import BinaryIO, Callable

from lib.errors import WeightsError

MARKER = "DME_RANDOM_WEIGHTS"  # at a snapshot's root: lib.weights reports its weights as random-weights-full-size
MARKER_TEXT = ("Random weights in the layout of the published repository, written by lib.rehearsal for a full-size\n"
               "rehearsal of time and memory. Images made from them are noise.\n")
COMPLETE = "dme-rehearsal.json"  # in the repo folder, written last
_LFS_SUFFIXES = (".safetensors", ".gguf", ".model", ".bin")  # stored with git LFS on the hub: etag = sha256
_CHUNK = 1 << 24


def repo_folder(cache: Path, repo_id: str) -> Path:
    """models--<org>--<name>: where the hub cache keeps one model repository."""
    return Path(cache) / ("models--" + repo_id.replace("/", "--"))


def fake_commit(*parts: str) -> str:
    """A 40-hex commit id for a snapshot we write, fixed by what shaped its content (so records can resume)."""
    return hashlib.sha1("/".join(("dme-rehearsal",) + parts).encode()).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """The etag the hub gives a file kept in plain git: the sha1 of git's blob object."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.sha = f, hashlib.sha256()

    def write(self, data: bytes | memoryview) -> int:
        self.sha.update(data)
        return self.f.write(data)

    def tell(self) -> int:
        return self.f.tell()


def _atomic_symlink(target: str, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


class RepoWriter:
    """Writes one repository's snapshot into a hub cache; files first, refs/main and the completion file last."""

    def __init__(self, cache: Path, repo_id: str, commit: str, describe: dict | None = None) -> None:
        self.repo_id, self.commit, self.describe = repo_id, commit, describe or {}
        self.folder = repo_folder(cache, repo_id)
        self.snapshot = self.folder / "snapshots" / commit
        self.blobs = self.folder / "blobs"

    def is_complete(self) -> bool:
        """True when a finished build of this very commit is in the cache (then nothing is rewritten)."""
        done = self.folder / COMPLETE
        try:
            info = json.loads(done.read_text())
            ref = (self.folder / "refs" / "main").read_text()
        except (OSError, ValueError):
            return False
        return info.get("commit") == self.commit and ref == self.commit and (self.snapshot / MARKER).is_file()

    def start(self) -> None:
        """Make the folders; a repo folder of another build of ours is removed first, anything else refused."""
        if self.folder.exists():
            ours = (self.folder / COMPLETE).is_file() or any(self.folder.glob(f"snapshots/*/{MARKER}"))
            if not ours and any(self.folder.iterdir()):
                raise WeightsError(f"{self.folder} holds files not written by lib.rehearsal (real downloads?); "
                                   "point the rehearsal at a throwaway cache folder (--cache)")
            others = [p for p in (self.folder / "snapshots").glob("*") if p.name != self.commit]
            if others:  # an older build: its blobs would only waste disk
                shutil.rmtree(self.folder)
        (self.folder / COMPLETE).unlink(missing_ok=True)
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.snapshot.mkdir(parents=True, exist_ok=True)
        (self.folder / "refs").mkdir(exist_ok=True)
        self.add_bytes(MARKER, MARKER_TEXT.encode())  # first, so a half-written build is recognisably ours

    def has(self, path: str) -> bool:
        """True when `path` is already in the snapshot with its blob (left by an interrupted build)."""
        link = self.snapshot / path
        return link.is_symlink() and link.exists()

    def _link(self, path: str, etag: str) -> Path:
        link = self.snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        _atomic_symlink(os.path.relpath(self.blobs / etag, link.parent), link)
        return link

    def add_bytes(self, path: str, data: bytes) -> Path:
        """A small file (config, tokenizer): blob named by its git sha1, unless it is an LFS kind of file."""
        etag = hashlib.sha256(data).hexdigest() if path.endswith(_LFS_SUFFIXES) else git_blob_sha1(data)
        blob = self.blobs / etag
        if not blob.is_file():
            tmp = self.blobs / f".{etag}.incomplete-{os.getpid()}"
            tmp.write_bytes(data)
            os.replace(tmp, blob)
        return self._link(path, etag)

    def add_stream(self, path: str, write: Callable[[_Hashing], None]) -> Path:
        """A large file written by `write(f)` through a hashing file object; its blob is named by the sha256."""
        tmp = self.blobs / f".{Path(path).name}.incomplete-{os.getpid()}"
        try:
            with open(tmp, "wb") as raw:
                f = _Hashing(raw)
                write(f)
            etag = f.sha.hexdigest()
            os.replace(tmp, self.blobs / etag)
        finally:
            tmp.unlink(missing_ok=True)
        return self._link(path, etag)

    def add_file(self, path: str, write_to: Callable[[Path], None]) -> Path:
        """A large file some other writer produces at a path (a GGUF writer); hashed afterwards."""
        tmp = self.blobs / f".{Path(path).name}.incomplete-{os.getpid()}"
        try:
            write_to(tmp)
            sha = hashlib.sha256()
            with open(tmp, "rb") as f:
                while chunk := f.read(_CHUNK):
                    sha.update(chunk)
            etag = sha.hexdigest()
            os.replace(tmp, self.blobs / etag)
        finally:
            tmp.unlink(missing_ok=True)
        return self._link(path, etag)

    def add_hardlink(self, path: str, source: Path) -> Path:
        """`path` as a hard link to the blob behind `source` (a file of another snapshot): no second copy on disk."""
        blob = Path(os.path.realpath(source))
        target = self.blobs / blob.name
        if not target.exists():
            tmp = self.blobs / f".{blob.name}.incomplete-{os.getpid()}"
            tmp.unlink(missing_ok=True)
            os.link(blob, tmp)
            os.replace(tmp, target)
        return self._link(path, blob.name)

    def finish(self, info: dict) -> None:
        """Point refs/main at the commit, then write the completion file: the build is now found and reused."""
        _atomic_text(self.folder / "refs" / "main", self.commit)
        _atomic_text(self.folder / COMPLETE, json.dumps({"repo_id": self.repo_id, "commit": self.commit,
                                                         **self.describe, **info}, indent=1))


def snapshot_bytes(snapshot: Path) -> dict[str, int]:
    """Size of every file of a snapshot (following its symlinks), by path inside it."""
    return {str(p.relative_to(snapshot)): p.stat().st_size for p in sorted(snapshot.rglob("*")) if p.is_file()}
