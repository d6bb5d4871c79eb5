"""Sample quality versus the number of network calls (NFE), for any set of samplers, from the same noise.

Chapters 1 and 3 both call `quality_vs_nfe`; every method starts from the same x_T, so differences
between rows come from the sampler and the network, not from luck of the draw.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Callable

import pandas as pd
import torch

from lib.teaching import flow, samplers
from lib.teaching.models import MLPDenoiser
from lib.teaching.schedules import NoiseSchedule
from lib.teaching.train import eps_fn, velocity_fn

# Log-spaced numbers of function evaluations, from one network call to DDPM's full 1000 steps.
NFES = (1, 2, 4, 10, 30, 100, 1000)

# A generator turns (starting noise, NFE) into samples.
Generator = Callable[[torch.Tensor, int], torch.Tensor]


def diffusion_generators(model: MLPDenoiser, schedule: NoiseSchedule | None = None) -> dict[str, Generator]:
    """DDPM (ancestral, stochastic) and DDIM (eta = 0, deterministic) on one eps-prediction model."""
    schedule = schedule or NoiseSchedule("linear")
    predict = eps_fn(model, schedule.T)
    return {
        "DDPM": lambda x_T, nfe: samplers.sample(predict, schedule, x_T, nfe, "ddpm", seed=1),
        "DDIM": lambda x_T, nfe: samplers.sample(predict, schedule, x_T, nfe, "ddim"),
    }


def flow_generator(model: MLPDenoiser) -> Generator:
    """Euler sampling of a velocity model on the equal grid `flow.euler_sigmas` (no shift: these data are tiny)."""
    return lambda x_T, nfe: flow.euler_sample(velocity_fn(model), x_T, nfe)


def quality_vs_nfe(generators: dict[str, Generator], score: Callable[[torch.Tensor], object], n: int, dim: int,
                   nfes: tuple[int, ...] = NFES, seed: int = 123) -> pd.DataFrame:
    """One row per (method, NFE) with the score's fields as columns."""
    x_T = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    rows = []
    for name, generate in generators.items():
        for nfe in nfes:
            result = score(generate(x_T, nfe))
            fields = asdict(result) if is_dataclass(result) else ({"score": result} if not isinstance(result, dict) else result)
            rows.append({"method": name, "NFE": nfe, **fields})
    return pd.DataFrame(rows)


def best_nfe_table(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """The quality column as a method x NFE table (rows: methods in their original order)."""
    table = df.pivot(index="method", columns="NFE", values=column)
    return table.loc[list(dict.fromkeys(df["method"]))]
