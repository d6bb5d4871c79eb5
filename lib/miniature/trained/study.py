"""The adherence study of the trained SD3-mini: what guidance, steps and T5 do to how well prompts are followed.

Each condition generates one image per prompt (new scenes of the world, seeds far above the training range) with
the real StableDiffusion3Pipeline loaded from the saved snapshot, and scores it with lib.shapes' scorer.
`python -m lib train-miniatures` runs it after training and stores the rows in adherence.json beside the weights;
chapter 4 reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

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

    @property
    def name(self) -> str:
        return (f"{self.kind}/{self.split}/{self.steps} steps/CFG {self.guidance:g}/"
                f"{'T5' if self.t5 else 'no T5'}")


def conditions() -> list[Condition]:
    """Guidance sweep and step sweep on single objects and relations; with and without T5 on short (single) and
    long (relation, composition) prompts; held-out combinations."""
    out = [Condition(k, guidance=g) for k in ("single", "relation") for g in GUIDANCES]
    out += [Condition(k, steps=n) for k in ("single", "relation") for n in STEPS if n != DEFAULT_STEPS]
    out += [Condition("composition")]
    out += [Condition(k, t5=False) for k in ("single", "relation", "composition")]
    out += [Condition(k, split="heldout") for k in ("single", "relation")]
    return out


def _pipeline(snapshot: Path, t5: bool):
    from diffusers import StableDiffusion3Pipeline

    extra = {} if t5 else {"text_encoder_3": None, "tokenizer_3": None}  # the drop-T5 load of SD3's pipeline
    pipe = StableDiffusion3Pipeline.from_pretrained(snapshot, torch_dtype=torch.float32, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(snapshot: Path, n: int, conds: list[Condition] | None = None, progress=None) -> list[dict]:
    """One row per condition: the condition, n, and per attribute [rate, low, high] (Wilson 95 %)."""
    from lib.miniature.trained import IMAGE_SIZE, evaluate
    from lib.miniature.trained.text import T5_CONTEXT

    rows, pipes = [], {}
    for cond in conds or conditions():
        pipe = pipes.get(cond.t5) or pipes.setdefault(cond.t5, _pipeline(snapshot, cond.t5))
        prompts = list(evaluate.prompts(cond.kind, n, cond.split))
        images = evaluate.generate(pipe, prompts, height=IMAGE_SIZE, width=IMAGE_SIZE, num_inference_steps=cond.steps,
                                   guidance_scale=cond.guidance, max_sequence_length=T5_CONTEXT)
        scores = evaluate.adherence(images, prompts)
        rows.append(dict(model="sd3-medium", **asdict(cond), n=len(prompts),
                         scores={k: [round(v, 4) for v in s[:3]] for k, s in scores.items()}))
        if progress:
            progress(cond, rows[-1])
    return rows


def find(rows: list[dict], **match) -> dict:
    """The row whose condition fields equal `match` (defaults filled in); KeyError if none."""
    want = asdict(Condition(**match))
    for row in rows:
        if all(row.get(k) == v for k, v in want.items()):
            return row
    raise KeyError(f"no adherence row for {want}")
