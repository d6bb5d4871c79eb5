"""The seven rehearsed runs: FLUX.1-schnell (GGUF Q4_K_S) and SD3 Medium, staged, unstaged, with cached embeddings.

All in bfloat16 at 256x256 (the smallest side both presets allow), one step, one prompt of the bank, seed 42:
a rehearsal measures what loading and one step cost, not what the images look like (random weights: noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lib.config import DiffusionConfig

PROMPT_ID = "spatial"
SIZE, STEPS, SEED, DTYPE = 256, 1, 42, "bfloat16"  # 256 px: the smallest side both presets allow
DESCRIPTION = ("Full-size {title}, random weights (lib.rehearsal), {how}; CPU, bfloat16, {size}x{size}, {steps} step. "
               "Times are this CPU's; peak_bytes is the process's peak resident memory (Linux VmHWM), a stand-in "
               "for a Mac's unified memory; weights_bytes counts the weights resident. The image is noise.")


@dataclass(frozen=True)
class Configuration:
    """One rehearsed run: a record name and the settings that differ between runs."""

    name: str
    model: str
    staged: bool
    drop_t5: bool = False
    embeddings: str = "off"  # "off"; "fill": a fresh embedding cache is filled; "warm": run on the filled one
    cache_folder: str = ""  # which embedding cache folder "fill"/"warm" share

    @property
    def how(self) -> str:
        """In words, for the record's description: which transformer, which encoders, staged or not."""
        parts = ["staged" if self.staged else "unstaged (every component loaded at once)"]
        if self.model == "flux-schnell":
            parts.insert(0, "GGUF Q4_K_S transformer")
        if self.model == "sd3-medium":
            parts.insert(0, "without T5" if self.drop_t5 else "with T5")
        if self.embeddings == "warm":
            parts.append("prompt embeddings read from a warm cache (no text encoder loaded)")
        return ", ".join(parts)


CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration("rehearsal-flux-staged", "flux-schnell", True, embeddings="fill", cache_folder="flux"),
    Configuration("rehearsal-flux-staged-cached", "flux-schnell", True, embeddings="warm", cache_folder="flux"),
    Configuration("rehearsal-flux-unstaged", "flux-schnell", False),
    Configuration("rehearsal-sd3-drop-t5-staged", "sd3-medium", True, drop_t5=True),
    Configuration("rehearsal-sd3-staged", "sd3-medium", True, embeddings="fill", cache_folder="sd3"),
    Configuration("rehearsal-sd3-unstaged", "sd3-medium", False),
    Configuration("rehearsal-sd3-staged-cached", "sd3-medium", True, embeddings="warm", cache_folder="sd3"),
)
BY_NAME = {c.name: c for c in CONFIGURATIONS}


def diffusion_config(conf: Configuration) -> "DiffusionConfig":
    """The DiffusionConfig of a configuration: bfloat16, 256x256, one step, one bank prompt, seed 42."""
    from lib.config import DiffusionConfig
    from lib.prompts import prompt_by_id

    return DiffusionConfig(conf.model, prompt_by_id(PROMPT_ID).prompt, steps=STEPS, height=SIZE, width=SIZE,
                           seed=SEED, dtype=DTYPE, drop_t5=conf.drop_t5, staged=conf.staged)
