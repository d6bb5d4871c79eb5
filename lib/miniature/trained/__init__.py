"""Trained miniatures: SD3 and FLUX.1-schnell architectures (and an SD-1.5-style UNet) at toy scale that learned the shapes world.

The random-weight miniatures (lib.miniature) prove that code runs; these show what the chapters are about,
because their images follow their prompts. `python -m lib train-miniatures` trains them on this CPU
(lib.miniature.trained.train); the weights are committed under precomputed/trained-miniatures/, so chapters and
CI load them and never train. Modules: `text` (tokenizers, frozen encoders), `vae`, `sd3`, `flux` (teacher and
reflow student), `unet` (chapter 2's UNet-mini, trained as SD3-mini), `loop` (the training loop), `snapshot` (diffusers folders), `evaluate` (generation and scoring with lib.shapes' scorer), `study` (the
adherence conditions chapter 4 shows), `train` (the command).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lib.errors import WeightsError

TRAINED_DIR = Path(__file__).resolve().parents[3] / "precomputed" / "trained-miniatures"
IMAGE_SIZE = 32  # the world's pixels: the trained miniatures take this size only
TRAINED_MODELS = ("sd3-medium", "flux-schnell")  # the presets that have a trained miniature


@dataclass(frozen=True)
class TrainedPaths:
    """Where the trained miniature snapshots are: SD3-mini with its three encoders; FLUX-mini's student (the
    schnell-like pipeline) with its teacher transformer in flux/teacher; UNet-mini (its UNet alone, in unet/unet:
    it runs with SD3-mini's encoders, scheduler and autoencoder)."""

    root: Path
    sd3: Path
    flux: Path
    unet: Path


# the file each family's snapshot cannot be without; minutes to train it on two CPU cores (training.json's
# measured seconds with each model's adherence study, rounded up, on the committed autoencoders, which a run keeps
# by default: SD3 = SD3-mini, FLUX = teacher, pairs and student, UNet = the UNet alone), for the message that says
# how to make a missing one
_MARKER = {"sd3": "model_index.json", "flux": "model_index.json", "unet": "unet/config.json"}
_MINUTES = {"sd3": 19, "flux": 29, "unet": 13}


def trained_paths(root: Path | None = None, families: tuple[str, ...] = ("sd3", "flux")) -> TrainedPaths:
    """The committed trained miniatures; WeightsError naming the command that trains them if one of `families`
    is missing."""
    root = Path(root) if root is not None else TRAINED_DIR
    paths = TrainedPaths(root, root / "sd3", root / "flux", root / "unet")
    missing = [f for f in families if not (getattr(paths, f) / _MARKER[f]).is_file()]
    if missing:
        minutes = ", ".join(f"{_MINUTES[f]} minutes for {f.upper()}" for f in missing)
        raise WeightsError(f"the trained miniature(s) {', '.join(missing)} are not in {root}: train them with "
                           f"`python -m lib train-miniatures --models {' '.join(missing)}` (about {minutes} "
                           "on two CPU cores)")
    return paths


def trained_gguf(snapshot: Path, qtype: str, cache: Path | None = None) -> Path:
    """The trained FLUX-mini student's transformer as a GGUF file of block type `qtype`, made once into a cache
(lib.miniature.trained.gguf)."""
    from lib.miniature.trained.gguf import gguf_file

    return gguf_file(snapshot, qtype, cache)


def weights_digest(snapshot: Path) -> str:
    """12 hex digits of the SHA-256 of a snapshot's files (weights, configs, tokenizers: everything that shapes an
    image, e.g. the scheduler's shift and the VAE's latent scaling): which training made these weights."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in snapshot.rglob("*") if p.is_file()):
        h.update(f.relative_to(snapshot).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


__all__ = ["IMAGE_SIZE", "TRAINED_DIR", "TRAINED_MODELS", "TrainedPaths", "trained_gguf", "trained_paths",
           "weights_digest"]
