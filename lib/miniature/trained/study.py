"""The adherence studies of the trained miniatures: what guidance, steps and T5 do to how well SD3-mini follows
its prompts; what the FLUX-mini student gains over its teacher in few steps.

Each condition generates one image per prompt (new scenes of the world, seeds far above the training range) with
the real StableDiffusion3Pipeline loaded from the saved snapshot, and scores it with lib.shapes' scorer.
`python -m lib train-miniatures` runs it after training and stores the rows in adherence.json beside the weights;
chapter 4 reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

GUIDANCES = (1.0, 3.0, 5.0, 7.0, 9.0)
STEPS = (4, 8, 16, 28)
DEFAULT_STEPS, DEFAULT_GUIDANCE = 28, 5.0


@dataclass(frozen=True)
class Condition:
    """One measured setting: which prompts (kind, split), steps, guidance, with or without T5."""

    kind: str  # "single", "relation", or a category of the world
    split: str = "train"
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    t5: bool = True
    model: str = "sd3-medium"  # or "flux-schnell" (the FLUX-mini student), "flux-teacher", "unet-mini"
    quantization: str = "none"  # the student's transformer from a GGUF file of this block type

    @property
    def name(self) -> str:
        prefix = "" if self.model == "sd3-medium" else f"{self.model}/"
        quant = "" if self.quantization == "none" else f"/{self.quantization}"
        return (f"{prefix}{self.kind}/{self.split}/{self.steps} steps/CFG {self.guidance:g}/"
                f"{'T5' if self.t5 else 'no T5'}{quant}")


def conditions() -> list[Condition]:
    """Guidance sweep and step sweep on single objects and relations; with and without T5 on short (single) and
    long (relation, composition) prompts; held-out combinations."""
    out = [Condition(k, guidance=g) for k in ("single", "relation") for g in GUIDANCES]
    out += [Condition(k, steps=n) for k in ("single", "relation") for n in STEPS if n != DEFAULT_STEPS]
    out += [Condition("composition")]
    out += [Condition(k, t5=False) for k in ("single", "relation", "composition")]
    out += [Condition(k, split="heldout") for k in ("single", "relation")]
    return out


STUDENT_STEPS = (1, 2, 4, 8)
GGUF_STEPS = 4  # the student's preset steps, as FLUX.1-schnell's
TEACHER_STEPS, TEACHER_GUIDANCE = 28, 5.0


def flux_conditions() -> list[Condition]:
    """The student (no guidance) at 1-8 steps against its guided teacher at 28, the teacher unguided and in 4 steps;
    the student on held-out combinations."""
    kinds = ("single", "relation")
    out = [Condition(k, steps=n, guidance=1.0, model="flux-schnell") for k in kinds for n in STUDENT_STEPS]
    out += [Condition(k, steps=n, guidance=g, model="flux-teacher") for k in kinds
            for n, g in ((TEACHER_STEPS, TEACHER_GUIDANCE), (TEACHER_STEPS, 1.0), (4, TEACHER_GUIDANCE))]
    out += [Condition(k, split="heldout", steps=4, guidance=1.0, model="flux-schnell") for k in kinds]
    from lib.quant_study import STUDY_TYPES

    out += [Condition(k, steps=GGUF_STEPS, guidance=1.0, model="flux-schnell", quantization=q) for k in kinds
            for q in STUDY_TYPES]
    return out


def unet_conditions() -> list[Condition]:
    """Chapter 2's comparison: UNet-mini where SD3-mini was measured at its defaults (28 steps, CFG 5, T5) on single
    objects, relations (spatial) and compositions (attribute binding), and on held-out combinations."""
    out = [Condition(k, model="unet-mini") for k in ("single", "relation", "composition")]
    return out + [Condition(k, split="heldout", model="unet-mini") for k in ("single", "relation")]


def flux_pipeline(snapshot: Path, teacher: bool = False, quantization: str = "none"):
    """The FluxPipeline of the FLUX-mini snapshot: the student as saved (or from a GGUF file of `quantization`), or
    the teacher transformer (from its Q8_0 file) with FLUX.1-dev's scheduler (its resolution-dependent shift)."""
    from lib.miniature import _quiet_progress_bars
    from lib.miniature.trained.text import quiet_truncation

    # quiet: importing FluxPipeline makes transformers say it falls back to a PIL image processor (FLUX uses none),
    # and loading draws progress bars (into a chapter's output)
    with quiet_truncation(), _quiet_progress_bars():
        from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

        from lib.gguf import load_flux_transformer_gguf
        from lib.miniature.trained.flux import DEV_SCHEDULER
        from lib.miniature.trained.snapshot import teacher_gguf

        extra = {}
        if teacher:  # stored as Q8_0 (lib.miniature.trained.snapshot), with the student's config
            extra = dict(transformer=load_flux_transformer_gguf(teacher_gguf(snapshot), snapshot, torch.float32),
                         scheduler=FlowMatchEulerDiscreteScheduler(**DEV_SCHEDULER))
        elif quantization != "none":
            from lib.miniature.trained.gguf import gguf_transformer

            extra = dict(transformer=gguf_transformer(snapshot, quantization))
        pipe = FluxPipeline.from_pretrained(snapshot, dtype=torch.float32, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _pipeline(snapshot: Path, t5: bool):
    from diffusers import StableDiffusion3Pipeline

    extra = {} if t5 else {"text_encoder_3": None, "tokenizer_3": None}  # the drop-T5 load of SD3's pipeline
    from lib.miniature import _quiet_progress_bars

    with _quiet_progress_bars():
        pipe = StableDiffusion3Pipeline.from_pretrained(snapshot, dtype=torch.float32, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(snapshot: Path, n: int, conds: list[Condition] | None = None, progress=None,
        sd3_snapshot: Path | None = None) -> list[dict]:
    """One row per condition: the condition, n, and per attribute [rate, low, high] (Wilson 95 %). UNet-mini's
    conditions need `sd3_snapshot`, whose encoders and autoencoder it runs with."""
    from lib.miniature.trained import IMAGE_SIZE, evaluate
    from lib.miniature.trained.text import T5_CONTEXT

    rows, pipes, unquantized = [], {}, {}
    for cond in conds or conditions():
        which = (cond.model, cond.t5, cond.quantization)
        if which not in pipes:
            if cond.model == "unet-mini":
                from lib.miniature.trained.unet import unet_pipeline

                pipes[which] = unet_pipeline(sd3_snapshot, snapshot, cond.t5)
            elif cond.model == "sd3-medium":
                pipes[which] = _pipeline(snapshot, cond.t5)
            else:
                pipes[which] = flux_pipeline(snapshot, cond.model == "flux-teacher", cond.quantization)
        prompts = list(evaluate.prompts(cond.kind, n, cond.split))
        if cond.model in ("sd3-medium", "unet-mini"):
            guidance = dict(guidance_scale=cond.guidance)
        else:  # FLUX: true CFG against the empty prompt, only where asked for (the student runs without)
            guidance = dict(true_cfg_scale=cond.guidance, negative="") if cond.guidance > 1 else {}
        images = evaluate.generate(pipes[which], prompts, height=IMAGE_SIZE, width=IMAGE_SIZE,
                                   num_inference_steps=cond.steps, max_sequence_length=T5_CONTEXT, **guidance)
        scores = evaluate.adherence(images, prompts)
        rows.append(dict(**asdict(cond), n=len(prompts),
                         scores={k: [round(v, 4) for v in s[:3]] for k, s in scores.items()}))
        same = (cond.model, cond.kind, cond.split, cond.steps, cond.guidance)
        if cond.quantization == "none":
            unquantized[same] = images
        elif same in unquantized:  # how far the block type moves the images (0-255, mean absolute difference)
            rows[-1]["pixel_mad"] = round(float(np.abs(images.astype(float) - unquantized[same]).mean()), 3)
        if progress:
            progress(cond, rows[-1])
    return rows


def condition(row: dict) -> Condition:
    """A stored row's condition; rows stored before a field existed have its default."""
    defaults = asdict(Condition("any"))
    return Condition(**{k: row.get(k, v) for k, v in defaults.items()})


def find(rows: list[dict], **match) -> dict:
    """The row whose condition fields equal `match` (defaults filled in); KeyError if none."""
    want = Condition(**match)
    for row in rows:
        if condition(row) == want:
            return row
    raise KeyError(f"no adherence row for {asdict(want)}")
