"""Sample quality versus the number of network calls (NFE), for any set of samplers, from the same noise.

Chapters 1 and 3 both call `quality_vs_nfe`; every method starts from the same x_T, so differences
between rows come from the sampler and the network, not from luck of the draw.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Callable

import pandas as pd
import torch

from lib.teaching import flow, samplers
from lib.teaching.models import MLPDenoiser
from lib.teaching.schedules import NoiseSchedule
from lib.teaching.train import eps_fn, velocity_fn

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from lib.teaching.metrics import DigitScore

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


def method_key(method: str) -> str:
    """A method's name as it appears in glue keys: "2-RF" -> "2rf", "DDIM" -> "ddim"."""
    return method.lower().replace("-", "")


def quality_figures(toy: pd.DataFrame, digits: pd.DataFrame, toy_floor: float,
                    real: DigitScore) -> tuple[go.Figure, go.Figure]:
    """The two quality-versus-NFE figures both chapters draw: sliced Wasserstein on the toy, and Fréchet distance
    and label entropy on the digits; dotted lines at what real data scores (`toy_floor`, `real`: a DigitScore)."""
    from lib.teaching import figures

    toy_fig = figures.quality_curves(toy, {"score": "sliced Wasserstein (2-D)"}, floors={"score": toy_floor})
    digit_fig = figures.quality_curves(
        digits, {"fd": "Fréchet distance (digits)", "label_entropy": "label entropy / log 10"},
        floors={"fd": real.fd, "label_entropy": real.label_entropy})
    return toy_fig, digit_fig


def glue_at_nfes(prefix: str, tables: dict[str, pd.DataFrame], nfes: tuple[int, ...], best: bool = False) -> None:
    """Glue what the prose quotes from method x NFE tables: for the i-th NFE, `{prefix}-nfe-{i}` and each method's
    value `{prefix}-{table}-{method}-{i}` (3 significant digits); with `best`, the lowest-scoring method
    `{prefix}-{table}-best-{i}` and its value `{prefix}-{table}-bestval-{i}`."""
    from myst_nb import glue

    for i, nfe in enumerate(nfes):
        glue(f"{prefix}-nfe-{i}", nfe, display=False)
        for name, table in tables.items():
            for method in table.index:
                glue(f"{prefix}-{name}-{method_key(method)}-{i}", f"{table.loc[method, nfe]:.3g}", display=False)
            if best:
                winner = table[nfe].idxmin()
                glue(f"{prefix}-{name}-best-{i}", winner, display=False)
                glue(f"{prefix}-{name}-bestval-{i}", f"{table.loc[winner, nfe]:.3g}", display=False)
