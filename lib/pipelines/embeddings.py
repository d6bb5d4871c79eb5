"""A disk cache of prompt embeddings: a second run of the same prompts loads no text encoder at all.

T5-XXL is the largest part of FLUX.1-schnell's text stage (about 9.5 GB in bf16, more than the 4-bit
transformer), yet its output for a prompt is a few megabytes. The cache keeps that output, keyed by
everything that shapes it: the model and the build of its weights, the encoders used (SD3 with or without
T5), the prompt, the T5 token count, whether negative (CFG) embeddings are included, the dtype and this
library's version. Files are safetensors, written atomically.

Where: `$DME_EMBEDDING_CACHE`, else `~/.cache/dme/embeddings`; `DME_EMBEDDING_CACHE=off` disables it.
Size and clearing: `python -m lib cache` prints both, `python -m lib cache --clear` empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch

CACHE_ENV = "DME_EMBEDDING_CACHE"


def cache_dir() -> Path | None:
    """The cache folder, or None when DME_EMBEDDING_CACHE=off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "none", "false", "no"):
        return None
    return Path(value) if value else Path.home() / ".cache" / "dme" / "embeddings"


def cache_key(model: str, build: str, encoders: tuple[str, ...], prompt: str, max_sequence_length: int,
              negatives: bool, dtype: torch.dtype) -> str:
    """A file-name-safe key (sha256) of everything that decides a prompt's embeddings."""
    from lib import __version__

    fields = {"model": model, "build": build, "encoders": list(encoders), "prompt": prompt,
              "max_sequence_length": max_sequence_length, "negatives": negatives,
              "dtype": str(dtype).replace("torch.", ""), "lib": __version__}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def load(key: str, device: torch.device) -> dict[str, torch.Tensor] | None:
    """The cached embeddings for `key` on `device`, or None (missing, disabled, or unreadable: then removed)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = cache_dir()
    if folder is None or not (folder / f"{key}.safetensors").is_file():
        return None
    path = folder / f"{key}.safetensors"
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError):  # a truncated or foreign file: drop it and encode again
        path.unlink(missing_ok=True)
        return None
    return {k: v.to(device) for k, v in tensors.items()}


def save(key: str, embeds: dict[str, torch.Tensor]) -> Path | None:
    """Store embeddings under `key` (atomically); None when the cache is disabled."""
    from safetensors.torch import save_file

    from lib.records import atomic_write

    folder = cache_dir()
    if folder is None:
        return None
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in embeds.items()}
    path = folder / f"{key}.safetensors"
    try:
        atomic_write(path, lambda p: save_file(tensors, str(p)))
    except OSError as err:  # the cache is a convenience: a read-only or full disk must not stop the run
        warnings.warn(f"could not cache prompt embeddings in {folder} ({err}); set {CACHE_ENV} to a writable "
                      f"folder, or {CACHE_ENV}=off", UserWarning, stacklevel=2)
        return None
    return path


def usage() -> tuple[Path | None, int, int]:
    """(folder, number of files, bytes) of the cache."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return folder, 0, 0
    files = list(folder.glob("*.safetensors"))
    return folder, len(files), sum(f.stat().st_size for f in files)


def clear() -> int:
    """Delete every cached embedding; returns how many files were removed."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    from lib.records import remove_stale_temps

    files = list(folder.glob("*.safetensors"))
    for f in files:
        f.unlink()
    remove_stale_temps(folder)  # left by a write that was killed
    return len(files)
