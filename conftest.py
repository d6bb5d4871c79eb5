"""pytest at the root: offline environment, a network guard, and nbval over the book's chapters.

The network guard is tests/offline/sitecustomize.py: put first on PYTHONPATH here, so every Python
process the tests start (subprocesses, nbval kernels, the book build) runs it at start-up, and run
in this process too. Proxy variables point at a closed loopback port so non-Python children fail fast.

Chapters are MyST markdown; nbval collects only .ipynb, so the chapters listed in _toc.yml are read
with jupytext and run cell by cell in a fresh kernel (ids like `book/intro.md::Cell 2`).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent
OFFLINE_DIR = ROOT / "tests" / "offline"  # holds the sitecustomize.py that refuses the network

# Before anything imports huggingface_hub or starts a kernel (kernels inherit the environment):
os.environ["HF_HUB_OFFLINE"] = "1"  # a hub call fails at once instead of retrying DNS
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["DME_BOOK_BUILD"] = "1"  # chapters render plotly as HTML, as in the book build
os.environ.setdefault("DME_MODE", "stored")  # chapters 4-6 read precomputed/ records
os.environ.setdefault("MPLBACKEND", "Agg")
# Prompt embeddings cached by the tests go to a folder of this run, never to the user's ~/.cache.
# Chapters 1 and 3 train their networks once per test run (the book build, then nbval, load them): a folder of
# this run, so every run trains them at least once and never reads what an earlier run left in ~/.cache.
# Both folders are removed when the run ends.
for _variable, _prefix in (("DME_EMBEDDING_CACHE", "dme-test-embeddings-"), ("DME_TEACHING_CACHE", "dme-test-teaching-"),
                          ("DME_TRAINED_GGUF", "dme-test-trained-gguf-")):
    if not os.environ.get(_variable):
        os.environ[_variable] = _folder = tempfile.mkdtemp(prefix=_prefix)
        atexit.register(shutil.rmtree, _folder, ignore_errors=True)

# The network guard, for children (first on PYTHONPATH: `site` imports it at start-up) and for this process.
_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(OFFLINE_DIR)]
os.environ["PYTHONPATH"] = os.pathsep.join([str(OFFLINE_DIR), *_path])
_spec = importlib.util.spec_from_file_location("dme_offline_guard", OFFLINE_DIR / "sitecustomize.py")
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))  # installs the guard here, once
# Non-Python children (curl, a browser, ...): every proxy is a closed loopback port, loopback goes direct.
for _name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ[_name] = "http://127.0.0.1:9"
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "localhost,127.0.0.1,::1"


def toc_files(root: Path = ROOT) -> list[Path]:
    """Every page listed in _toc.yml, as a path to its .md file."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [root / (f if f.endswith(".md") else f + ".md") for f in found]


def _is_notebook(path: Path) -> bool:
    """A MyST page with a kernelspec header is a notebook; plain pages (references) are not."""
    head = path.read_text(encoding="utf-8")[:600]
    return head.startswith("---") and "kernelspec:" in head


class _NotebookReader:
    """Stands in for nbformat inside nbval: .md chapters are read with jupytext."""

    @staticmethod
    def read(path, as_version=4):
        import jupytext
        import nbformat

        if str(path).endswith(".md"):
            return jupytext.read(path)
        return nbformat.read(path, as_version=as_version)


def pytest_configure(config):
    import nbval.plugin

    nbval.plugin.nbformat = _NotebookReader


_CHAPTERS: set[Path] | None = None


def pytest_collect_file(file_path: Path, parent):
    global _CHAPTERS
    if file_path.suffix != ".md":
        return None
    if _CHAPTERS is None:
        _CHAPTERS = {p.resolve() for p in toc_files() if p.exists() and _is_notebook(p)}
    if file_path.resolve() in _CHAPTERS:
        from nbval.plugin import IPyNbFile

        return IPyNbFile.from_parent(parent, path=file_path)
    return None
