"""One training loop for every trained miniature: AdamW with a one-cycle schedule, an exponential moving average
of the weights (what is saved and sampled, as in every modern diffusion model), resumable checkpoints.

An interrupted run resumes from its last checkpoint (every `CHECKPOINT_EVERY` steps, written atomically) with the
same batches, because every batch is drawn from a generator seeded by (seed, step).
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

CHECKPOINT_EVERY = 100


@dataclass
class Fit:
    """What a finished loop returns: the averaged model, the loss curve (mean per 50 steps) and seconds spent
    (the sum over resumed runs)."""

    ema: torch.nn.Module
    losses: list[float]
    seconds: float


def autocast_dtype() -> torch.dtype | None:
    """bfloat16 autocast where this CPU has bfloat16 kernels (AVX512-BF16 or AMX: faster than float32), else None."""
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else None


def where() -> dict[str, str]:
    """The CPU a stage ran on and its arithmetic, kept with its seconds: stages resumed from --work may have run on
    another machine, and a CPU without bfloat16 kernels trains in float32, markedly slower (see autocast_dtype)."""
    from lib.machine import device_info

    precision = str(autocast_dtype() or torch.float32).removeprefix("torch.")
    return dict(chip=device_info("cpu")["chip"], precision=precision)


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, torch.Generator], torch.Tensor], *,
          steps: int, lr: float, seed: int, work: Path, label: str, ema_decay: float = 0.999,
          warmup: float = 0.05, weight_decay: float = 0.0, key: dict | None = None,
          math_attention: bool = False) -> Fit:
    """Run `steps` optimisation steps of loss_fn(model, generator); resume from work/checkpoint.pt if present and
    made with the same `key` (the settings that shape the result), else refuse with a message. `math_attention`:
    the denoisers' attention kernel under bfloat16 autocast (see below)."""
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "checkpoint.pt"
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=warmup)
    ema = copy.deepcopy(model).requires_grad_(False)
    start, losses, spent = 0, [], 0.0
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        if state.get("key") != key:
            from lib.errors import ConfigError

            raise ConfigError(f"{ckpt} is a checkpoint of {label} trained with other settings; delete {work} to "
                              "train from scratch")
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start, losses, spent = state["step"], state["losses"], state["seconds"]
    cast = autocast_dtype()
    model.train()
    # math_attention: under bfloat16 autocast the plain (math) attention trains the denoisers faster than the fused
    # flash kernel, whose backward is slow at their ~100-token sequences: per step 25 % faster for SD3-mini and
    # UNet-mini, 5 % for FLUX-mini (batch 128, AMD EPYC with AVX512-BF16, torch 2.13). The autoencoders keep the
    # default kernel, under which their committed weights were trained (the kernels round differently). In float32
    # (CPUs without bf16 kernels) the default is kept.
    def attention():
        return sdpa_kernel(SDPBackend.MATH) if math_attention and cast is not None else contextlib.nullcontext()

    t0, window = time.perf_counter(), []
    for step in range(start, steps):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        with torch.autocast("cpu", dtype=cast or torch.bfloat16, enabled=cast is not None), attention():
            loss = loss_fn(model, gen)
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(ema_decay, (1 + step) / (10 + step))  # a short warm-up of the average (as in diffusers' EMAModel)
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.lerp_(p.detach(), 1 - decay)
        window.append(loss.item())
        done = step + 1
        if len(window) == 50 or done == steps:
            losses.append(sum(window) / len(window))
            window = []
            elapsed = spent + time.perf_counter() - t0
            print(f"\r{label}: step {done}/{steps}  loss {losses[-1]:.4f}  {elapsed:.0f} s", end="", file=sys.stderr,
                  flush=True)
        if done % CHECKPOINT_EVERY == 0 and done < steps:
            _save(ckpt, dict(model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(),
                             sched=sched.state_dict(), step=done, losses=losses, key=key,
                             seconds=spent + time.perf_counter() - t0))
    print(file=sys.stderr)
    model.eval()
    return Fit(ema.eval(), losses, spent + time.perf_counter() - t0)


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
