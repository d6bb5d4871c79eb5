"""Train the tiny denoisers: the DDPM loss, the flow-matching loss and reflow, with one shared loop.

Chapter 1 and chapter 3 call the same functions with the same seeds, so a model trained in one chapter
is bit-for-bit the model the other chapter trains (each chapter must run on its own).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

from lib.teaching import flow
from lib.teaching.data import Dataset
from lib.teaching.models import MLPDenoiser
from lib.teaching.schedules import NoiseSchedule


@dataclass(frozen=True)
class Recipe:
    """Network size and training budget: the same for every method on a data set, so comparisons are fair."""

    hidden: int
    depth: int
    steps: int
    batch: int
    lr: float
    n_classes: int = 0
    p_uncond: float = 0.0  # how often the label is dropped, for classifier-free guidance


# Tuned until DDPM with 1000 steps draws the two moons (chapter 1: sliced Wasserstein distance within 1.5x of
# two real draws): five layers and lr 1e-2 got there; the former 3-layer, lr 5e-3 net reached 2.0x at 1,500
# steps and 1.6x at 3,000.
TOY = Recipe(hidden=128, depth=5, steps=2000, batch=512, lr=1e-2)
DIGITS = Recipe(hidden=256, depth=3, steps=2500, batch=192, lr=3e-3, n_classes=10, p_uncond=0.2)

# loss(model, x0, labels, generator) -> scalar
Loss = Callable[[MLPDenoiser, torch.Tensor, torch.Tensor | None, torch.Generator], torch.Tensor]


def _drop_labels(model: MLPDenoiser, labels: torch.Tensor | None, p: float, gen: torch.Generator):
    if labels is None or not model.n_classes:
        return None
    drop = torch.rand(labels.shape[0], generator=gen) < p
    return torch.where(drop, torch.full_like(labels, model.null_label), labels)


def fit(loss: Loss, data: Dataset, recipe: Recipe, seed: int = 0, pairs: torch.Tensor | None = None,
        init: MLPDenoiser | None = None) -> tuple[MLPDenoiser, list[float]]:
    """Train an MLPDenoiser with Adam and a cosine learning-rate decay; return it and its loss curve.

    With `pairs` (n, 2, dim) of (data-side point, noise) the batches come from those fixed couplings (reflow);
    with `init` training starts from a copy of that model's weights instead of a fresh network.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MLPDenoiser(data.dim, recipe.hidden, recipe.depth, recipe.n_classes)
    if init is not None:
        model.load_state_dict(init.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe.steps)
    source = data.train if pairs is None else pairs
    labels = data.train_labels if pairs is None else None
    history = []
    for _ in range(recipe.steps):
        idx = torch.randint(0, source.shape[0], (recipe.batch,), generator=gen)
        batch_labels = None if labels is None else _drop_labels(model, labels[idx], recipe.p_uncond, gen)
        value = loss(model, source[idx], batch_labels, gen)
        opt.zero_grad()
        value.backward()
        opt.step()
        sched.step()
        history.append(value.item())
    model.eval()
    return model, history


def diffusion_loss(schedule: NoiseSchedule, prediction: str = "epsilon") -> Loss:
    """Ho et al. (2020), eq. 14: || target - net(sqrt(ab) x0 + sqrt(1-ab) eps, t) ||^2 with t uniform."""

    def loss(model, x0, labels, gen):
        t = torch.randint(0, schedule.T, (x0.shape[0],), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        out = model(schedule.q_sample(x0, t, noise), t.float() / schedule.T, labels)
        return ((out - schedule.target(prediction, x0, noise, t)) ** 2).mean()

    return loss


def flow_loss(timestep_sampling: str = "uniform") -> Loss:
    """Lipman et al. (2023) conditional flow matching on the straight path: || (eps - x0) - v(x_t, t) ||^2.

    For reflow, x0 arrives as a (batch, 2, dim) tensor of fixed (sample, noise) couplings (Liu et al. 2023).
    """

    def loss(model, x0, labels, gen):
        if x0.dim() == 3:  # reflow couplings
            x0, noise = x0[:, 0], x0[:, 1]
        else:
            noise = torch.randn(x0.shape, generator=gen)
        n = x0.shape[0]
        t = flow.logit_normal_t(n, generator=gen) if timestep_sampling == "logit_normal" else torch.rand(n, generator=gen)
        out = model(flow.interpolate(x0, noise, t), t, labels)
        return ((out - (noise - x0)) ** 2).mean()

    return loss


def train_diffusion(data: Dataset, recipe: Recipe, schedule: NoiseSchedule | None = None,
                    prediction: str = "epsilon", seed: int = 0) -> tuple[MLPDenoiser, list[float]]:
    """A DDPM denoiser for `data` (linear schedule, eps-prediction unless told otherwise)."""
    return fit(diffusion_loss(schedule or NoiseSchedule("linear"), prediction), data, recipe, seed)


def train_flow(data: Dataset, recipe: Recipe, seed: int = 0) -> tuple[MLPDenoiser, list[float]]:
    """A rectified-flow (1-RF) velocity network for `data`, with independent (data, noise) pairs."""
    return fit(flow_loss(), data, recipe, seed)


def reflow_pairs(model: MLPDenoiser, n: int, dim: int, steps: int = 100, seed: int = 1) -> torch.Tensor:
    """Couplings (Z0, Z1) for reflow: noise Z1 and the point the current flow carries it to (Liu et al. 2023, alg. 1)."""
    noise = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    ends = flow.euler_sample(velocity_fn(model), noise, steps)
    return torch.stack([ends, noise], dim=1)


def train_reflow(model: MLPDenoiser, data: Dataset, recipe: Recipe, n_pairs: int, pair_steps: int = 100,
                 steps: int | None = None, seed: int = 0) -> tuple[MLPDenoiser, list[float]]:
    """2-rectified flow: fine-tune a copy of `model` on the couplings it produces itself (Liu et al. 2023, sec. 2.3).

    The pairs are unconditional (no label), so the copy keeps its class input but is only ever shown "no class".
    """
    pairs = reflow_pairs(model, n_pairs, data.dim, pair_steps, seed + 1)
    r = replace(recipe, steps=steps or recipe.steps // 2)
    return fit(flow_loss(), data, r, seed, pairs=pairs, init=model)


def eps_fn(model: MLPDenoiser, T: int = 1000, labels: torch.Tensor | None = None, guidance: float = 1.0):
    """The predictor a diffusion sampler calls, with classifier-free guidance when labels are given.

    Ho & Salimans (2021), eq. 6 in the common form eps_u + w (eps_c - eps_u): w = 1 is plain conditional
    sampling, w = 0 unconditional, w > 1 pushes samples towards what the class makes likely.
    """

    def predict(x, t):
        tt = t.float() / T
        if labels is None or guidance == 1.0:
            return model(x, tt, labels)
        uncond = model(x, tt, None)
        return uncond + guidance * (model(x, tt, labels) - uncond)

    return predict


def velocity_fn(model: MLPDenoiser):
    """The velocity field a flow sampler calls (unconditional)."""
    return lambda x, t: model(x, t, None)
