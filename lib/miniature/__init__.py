"""Miniature SD3 and FLUX.1-schnell: same architectures, random weights, local tokenizers, real GGUF files.

No weights can be downloaded on the machines that build this book, so the library's loading and
generation code is exercised end to end on these. `ensure_miniatures()` builds them once into a cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MINIATURE_VERSION = "3"  # bump when the miniature architectures, tokenizers or GGUF writer change
GGUF_QTYPES: tuple[str, ...] = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q4_0")


@dataclass(frozen=True)
class MiniaturePaths:
    """Where the miniature snapshots and GGUF files live."""

    sd3: Path  # tiny StableDiffusion3Pipeline snapshot WITH T5; drop-T5 = load with text_encoder_3=None, tokenizer_3=None
    flux: Path  # tiny schnell-like FluxPipeline snapshot (guidance_embeds=False)
    gguf: dict[str, Path]  # qtype -> BFL-keyed GGUF file of flux's transformer


def default_cache_dir() -> Path:
    """$DME_MINIATURE_DIR, else ~/.cache/dme/miniature-<MINIATURE_VERSION>."""
    env = os.environ.get("DME_MINIATURE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "dme" / f"miniature-{MINIATURE_VERSION}"


def _paths(root: Path) -> MiniaturePaths:
    return MiniaturePaths(
        sd3=root / "sd3",
        flux=root / "flux",
        gguf={q: root / "gguf" / f"flux-miniature-{q}.gguf" for q in GGUF_QTYPES},
    )


def _complete(root: Path) -> bool:
    p = _paths(root)
    return (root / "COMPLETE").is_file() and all(f.is_file() for f in p.gguf.values())


def build_miniatures(root: Path) -> MiniaturePaths:
    """Build everything into root (which must not exist yet); deterministic seeds."""
    from diffusers import FluxTransformer2DModel

    from lib.gguf import write_flux_gguf
    from lib.miniature.build import build_flux, build_sd3, build_tokenizers

    paths = _paths(root)
    with _quiet_progress_bars():
        tokenizers = build_tokenizers(root / "tokenizers")
        build_sd3(paths.sd3, tokenizers)
        build_flux(paths.flux, tokenizers)
        transformer = FluxTransformer2DModel.from_pretrained(paths.flux, subfolder="transformer")
    for qtype, path in paths.gguf.items():
        write_flux_gguf(transformer, path, qtype)
    (root / "COMPLETE").write_text(f"miniature {MINIATURE_VERSION}\n")
    return paths


@contextmanager
def _quiet_progress_bars():
    """Hide diffusers'/transformers' per-shard progress bars while building, then restore their state."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    was = dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            dlog.enable_progress_bar()
        if was[1]:
            tlog.enable_progress_bar()


def ensure_miniatures(cache_dir: Path | None = None) -> MiniaturePaths:
    """The miniature models, built on first use into cache_dir; later calls return at once.

    Built in a temporary sibling folder and renamed into place, so an interrupted build leaves nothing
    half-made and two processes racing both end with one complete copy."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if _complete(root):
        return _paths(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        build_miniatures(tmp / "m")
        if root.exists() and not _complete(root):
            shutil.rmtree(root)  # a leftover from an older, unversioned or broken build
        try:
            os.replace(tmp / "m", root)
        except OSError:
            if not _complete(root):  # someone else won the race with a complete copy: keep theirs
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _paths(root)


__all__ = ["GGUF_QTYPES", "MINIATURE_VERSION", "MiniaturePaths", "default_cache_dir", "ensure_miniatures"]
