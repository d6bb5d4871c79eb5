"""Session fixtures shared by the tests that need the miniature models (import them into a test module:
`from miniature_fixtures import miniatures, generate_np`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def miniatures(tmp_path_factory):
    """The miniature SD3/FLUX snapshots and FLUX GGUF files, built once per test session into a temp dir."""
    from lib.miniature import ensure_miniatures

    return ensure_miniatures(tmp_path_factory.mktemp("miniature") / "cache")


def generate_np(pipe, seed: int = 0, prompt: str = "A Red Cube on a Blue Sphere", **kwargs) -> np.ndarray:
    """One 64x64, 4-step image as a float array in [0, 1], seeded with a CPU generator."""
    kwargs.setdefault("num_inference_steps", 4)
    out = pipe(prompt, height=64, width=64, generator=torch.Generator("cpu").manual_seed(seed),
               output_type="np", **kwargs)
    return out.images[0]
