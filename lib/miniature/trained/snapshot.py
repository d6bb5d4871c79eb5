"""Save trained miniatures as diffusers snapshots laid out like the published repositories, in float16.

`load_pipeline` loads them as it loads the real weights: model_index.json, one folder per component, the
tokenizers beside their encoders. float16 halves the files (the weights are small numbers: no overflow), and
every score the book shows is measured on the saved files, not on the weights in memory before saving.
"""

from __future__ import annotations

from pathlib import Path

import torch


def _scheduler(config: dict):
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**config)


def _copy(encoder):
    """A copy of a frozen encoder to cast for saving: casting the run's own encoders to float16 and back would round
    them for every later stage of the run (and change their digest, the key those stages resume by)."""
    import copy

    return copy.deepcopy(encoder)


def save_sd3(out: Path, transformer, vae, enc: dict) -> Path:
    """A StableDiffusion3Pipeline snapshot: CLIP-L, CLIP-G, T5 (frozen), the trained MMDiT and autoencoder."""
    from diffusers import StableDiffusion3Pipeline

    from lib.miniature.build import SD3_SCHEDULER

    pipe = StableDiffusion3Pipeline(
        transformer=transformer, vae=vae, scheduler=_scheduler(SD3_SCHEDULER),
        text_encoder=_copy(enc["clip_l"]), tokenizer=enc["tokenizer"], text_encoder_2=_copy(enc["clip_g"]),
        tokenizer_2=enc["tokenizer"], text_encoder_3=_copy(enc["t5"]), tokenizer_3=enc["tokenizer_t5"])
    pipe.to(torch.float16).save_pretrained(out)
    pipe.to(torch.float32)
    return out


TEACHER = "teacher"  # the folder of a FLUX snapshot that holds the teacher transformer beside the student
# The teacher is stored as a Q8_0 GGUF file (4.6 MB against 7.5 MB at fp16), which keeps the committed trained
# weights within issue 11's 25 MB; it is loaded by the library's GGUF loader with the student's config (the two
# share one architecture). Q8_0 moves the student's images by under 0.1 of 255 on average (adherence-flux.json,
# pixel_mad), far below what the adherence study can see.
TEACHER_QTYPE = "Q8_0"


def teacher_gguf(snapshot: Path) -> Path:
    """The teacher's GGUF file in a FLUX-mini snapshot."""
    return Path(snapshot) / TEACHER / f"teacher-{TEACHER_QTYPE}.gguf"


def save_flux(out: Path, transformer, vae, enc: dict, teacher=None) -> Path:
    """A FluxPipeline snapshot: CLIP-L (no projection, as FLUX reads its pooled output), T5, transformer, VAE; the
    teacher transformer, if given, in out/teacher as a Q8_0 GGUF file of its fp16 weights (not a pipeline component:
    loaders of the snapshot skip it)."""
    from diffusers import FluxPipeline

    from lib.miniature.build import FLUX_SCHEDULER

    pipe = FluxPipeline(transformer=transformer, vae=vae, scheduler=_scheduler(FLUX_SCHEDULER),
                        text_encoder=_copy(enc["clip_l_plain"]), tokenizer=enc["tokenizer"],
                        text_encoder_2=_copy(enc["t5"]),
                        tokenizer_2=enc["tokenizer_t5"])
    pipe.to(torch.float16).save_pretrained(out)
    pipe.to(torch.float32)
    if teacher is not None:
        from lib.gguf import write_flux_gguf

        teacher.to(torch.float16).to(torch.float32)  # quantized from the fp16 weights every other model stores
        write_flux_gguf(teacher, teacher_gguf(out), TEACHER_QTYPE)
    return out
