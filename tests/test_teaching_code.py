"""The code printed in chapters 1 and 3 computes exactly what lib.teaching runs.

The chapters show short, copyable functions (the DDPM loss, one DDPM and one DDIM step, DDPM's sampling loop,
the flow-matching loss and the Euler sampler) and then call the library. These tests read each chapter with
jupytext, execute the cell that defines a function, as printed, and compare its output with the library's
on the same inputs, bit for bit (same machine, same kernels): if either side changes, the page lies.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import jupytext
import pytest
import torch

from lib.teaching import compare, flow, samplers, train
from lib.teaching.models import MLPDenoiser
from lib.teaching.schedules import NoiseSchedule

BOOK = Path(__file__).resolve().parents[1] / "book"
CH1 = BOOK / "01_diffusion_fundamentals.md"
CH3 = BOOK / "03_flow_matching.md"


def page_functions(chapter: Path, *names: str) -> dict:
    """Execute the code cells of `chapter` that define `names` (and nothing the page computed) and return them."""
    cells = [c.source for c in jupytext.read(chapter).cells if c.cell_type == "code"]
    namespace: dict = {"math": math, "torch": torch}
    for name in names:
        defining = [src for src in cells if re.search(rf"^def {name}\(", src, re.M)]
        assert len(defining) == 1, f"{chapter.name}: expected one cell defining {name}(), found {len(defining)}"
        exec(compile(defining[0], f"{chapter.name}:{name}", "exec"), namespace)
    return namespace


def tiny_model(dim: int = 2, seed: int = 0) -> MLPDenoiser:
    torch.manual_seed(seed)
    return MLPDenoiser(dim, hidden=32, depth=2).eval()


def batch(n: int = 64, dim: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def test_chapter_1_eps_loss_is_the_library_loss():
    page = page_functions(CH1, "eps_loss")
    model, x0, schedule = tiny_model(), batch(), NoiseSchedule("linear")
    ours = page["eps_loss"](lambda x, t: model(x, t), x0, schedule.alpha_bar, torch.Generator().manual_seed(5))
    lib = train.diffusion_loss(schedule)(model, x0, None, torch.Generator().manual_seed(5))
    assert torch.equal(ours, lib)


@pytest.mark.parametrize(("t", "t_prev"), [(999, 949), (500, 499), (30, 0), (0, -1), (999, -1)])
def test_chapter_1_steps_are_the_library_steps(t, t_prev):
    page = page_functions(CH1, "ddpm_step", "ddim_step")
    schedule = NoiseSchedule("linear")
    x, eps, z = batch(seed=1), batch(seed=2), batch(seed=3)
    ddpm = page["ddpm_step"](eps, x, t, t_prev, schedule.alpha_bar, z)
    assert torch.equal(ddpm, samplers.ddpm_step(schedule, eps, t, t_prev, x, z))
    ddim = page["ddim_step"](eps, x, t, t_prev, schedule.alpha_bar)
    assert torch.equal(ddim, samplers.ddim_step(schedule, eps, t, t_prev, x, eta=0.0))


def test_chapter_1_ddpm_loop_draws_the_library_samples():
    page = page_functions(CH1, "ddpm_step", "ddpm_sample")
    model, x_T = tiny_model(), batch(16, seed=4)
    with torch.no_grad():
        ours = page["ddpm_sample"](lambda x, t: model(x, t.float() / 1000), x_T, NoiseSchedule().alpha_bar,
                                   torch.Generator().manual_seed(1))
    assert torch.equal(ours, compare.diffusion_generators(model)["DDPM"](x_T, 1000))


def test_chapter_3_flow_loss_is_the_library_loss():
    page = page_functions(CH3, "flow_loss")
    model, x0 = tiny_model(), batch()
    ours = page["flow_loss"](lambda x, t: model(x, t), x0, torch.Generator().manual_seed(5))
    lib = train.flow_loss()(model, x0, None, torch.Generator().manual_seed(5))
    assert torch.equal(ours, lib)


@pytest.mark.parametrize("steps", [1, 2, 4, 10])
def test_chapter_3_euler_sampler_is_the_library_sampler_and_uses_every_call(steps):
    page = page_functions(CH3, "euler_sample")
    model, x1 = tiny_model(), batch(seed=6)
    seen: list[float] = []

    def velocity(x, t):
        seen.append(float(t[0]))
        return model(x, t)

    with torch.no_grad():
        ours = page["euler_sample"](velocity, x1, steps)
    assert torch.equal(ours, flow.euler_sample(train.velocity_fn(model), x1, steps))
    assert seen == pytest.approx([1 - i / steps for i in range(steps)])  # n calls at 1, 1 - 1/n, ..., 1/n
