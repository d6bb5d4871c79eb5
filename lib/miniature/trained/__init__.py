"""Trained miniatures: SD3 and FLUX.1-schnell architectures at toy scale that learned the shapes world.

The random-weight miniatures (lib.miniature) prove that code runs; these show what the chapters are about,
because their images follow their prompts. `python -m lib train-miniatures` trains them on this CPU
(lib.miniature.trained.train); the weights are committed under precomputed/trained-miniatures/, so chapters and
CI load them and never train. Modules: `text` (tokenizers, frozen encoders), `vae`, `sd3`, `loop` (the training
loop), `snapshot` (diffusers folders), `evaluate` (generation and scoring with lib.shapes' scorer), `study` (the
adherence conditions chapter 4 shows), `train` (the command).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lib.errors import WeightsError

TRAINED_DIR = Path(__file__).resolve().parents[3] / "precomputed" / "trained-miniatures"
IMAGE_SIZE = 32  # the world's pixels: the trained miniatures take this size only
TRAINED_MODELS = ("sd3-medium",)  # the presets that have a trained miniature so far


@dataclass(frozen=True)
class TrainedPaths:
    """Where the trained miniature snapshots are (SD3-mini with its three encoders; more models as trained)."""

    root: Path
    sd3: Path


def trained_paths(root: Path | None = None) -> TrainedPaths:
    """The committed trained miniatures; WeightsError naming the command that trains them if one is missing."""
    root = Path(root) if root is not None else TRAINED_DIR
    paths = TrainedPaths(root, root / "sd3")
    missing = [p.name for p in (paths.sd3,) if not (p / "model_index.json").is_file()]
    if missing:
        raise WeightsError(f"the trained miniature(s) {', '.join(missing)} are not in {root}: train them with "
                           "`python -m lib train-miniatures` (about 30 minutes on two CPU cores)")
    return paths


def weights_digest(snapshot: Path) -> str:
    """12 hex digits of the SHA-256 of a snapshot's files (weights, configs, tokenizers: everything that shapes an
    image, e.g. the scheduler's shift and the VAE's latent scaling): which training made these weights."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in snapshot.rglob("*") if p.is_file()):
        h.update(f.relative_to(snapshot).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


__all__ = ["IMAGE_SIZE", "TRAINED_DIR", "TRAINED_MODELS", "TrainedPaths", "trained_paths", "weights_digest"]
