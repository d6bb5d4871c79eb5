"""Fixtures shared by the tests that need the miniature models (the root conftest.py sets the offline environment)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest


@pytest.fixture(scope="session")
def miniatures():
    """The miniature SD3/FLUX snapshots and FLUX GGUF files in the default cache (built on first use), the
    same copy the command line and the chapters use."""
    from lib.miniature import ensure_miniatures

    return ensure_miniatures()


def _generate_np(pipe, seed: int = 0, prompt: str = "A Red Cube on a Blue Sphere", **kwargs) -> np.ndarray:
    import torch

    kwargs.setdefault("num_inference_steps", 4)
    out = pipe(prompt, height=64, width=64, generator=torch.Generator("cpu").manual_seed(seed),
               output_type="np", **kwargs)
    return out.images[0]


@pytest.fixture(scope="session")
def generate_np() -> Callable[..., np.ndarray]:
    """generate_np(pipe, seed=0, **pipe_kwargs): one 64x64, 4-step image as a float array in [0, 1], seeded
    with a CPU generator (bit-identical for the same seed)."""
    return _generate_np
