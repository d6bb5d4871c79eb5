"""FLUX-mini: diffusers' FluxTransformer2DModel trained on the shapes world, a teacher and a schnell-like student.

The teacher is trained as FLUX.1 [dev]'s base would be (Black Forest Labs published no training recipe; this is
the SD3 paper's, Esser et al. 2024, which FLUX.1 builds on): rectified flow, logit-normal timesteps moved by the
resolution-dependent shift FLUX.1-dev's scheduler applies (its `use_dynamic_shifting`: at this miniature's 64
image tokens, s = exp(mu) = 1.6), and the prompt dropped at random (the empty prompt's encoding) so that
classifier-free guidance works — the FluxPipeline's `true_cfg_scale` with an empty negative prompt.

The student is distilled from the teacher by *reflow* (Liu et al. 2023, "Flow straight and fast", chapter 3):
the teacher, guided, draws an image from each of many noises; the student — initialised from the teacher —
learns the straight path from each noise to its image. It samples in 1-4 Euler steps, one pass per step, with no
guidance (the guided teacher's images are its targets, so guidance is baked in) and no timestep shift, as
FLUX.1-schnell runs. Black Forest Labs distilled schnell with latent adversarial diffusion distillation (Sauer
et al. 2024, LADD): a discriminator on the teacher's features judges the student's few-step images. Reflow needs
no discriminator and gives up some sharpness in one step; it is what fits this CPU.

The architecture is the random-weight miniature's (lib.miniature.build.FLUX_TRANSFORMER: one double-stream and
one single-stream block, two heads of FLUX's 128 dimensions, so that every large matrix holds K-quant blocks).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from lib.miniature.trained.sd3 import shift_timesteps
from lib.miniature.trained.text import T5_CONTEXT

P_UNCOND = 0.1
TEACHER_STEPS, STUDENT_STEPS, BATCH, LR, STUDENT_LR = 1500, 800, 128, 1e-3, 3e-4
N_PAIRS = 2048  # teacher images the student learns from
PAIR_STEPS, PAIR_GUIDANCE = 28, 5.0  # how the teacher draws them: the book's default for a guided model
# black-forest-labs/FLUX.1-dev scheduler/scheduler_config.json: the resolution-dependent shift of FLUX.1 [dev]
DEV_SCHEDULER = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                     base_image_seq_len=256, max_image_seq_len=4096)


def transformer_config() -> dict:
    """FLUX.1-schnell's blocks at toy depth: the random-weight miniature's configuration."""
    from lib.miniature.build import FLUX_TRANSFORMER

    return dict(FLUX_TRANSFORMER)


def dev_shift(image_tokens: int) -> float:
    """The static shift equal to FLUX.1-dev's dynamic one at this many image tokens: exp(mu), mu linear in tokens
    (diffusers' calculate_shift with the DEV_SCHEDULER values)."""
    c = DEV_SCHEDULER
    m = (c["max_shift"] - c["base_shift"]) / (c["max_image_seq_len"] - c["base_image_seq_len"])
    return math.exp(image_tokens * m + c["base_shift"] - m * c["base_image_seq_len"])


def text_pipeline(enc: dict, transformer=None, scheduler=None, vae=None):
    """A FluxPipeline over the frozen encoders (CLIP-L pooled, T5 sequence), with whatever else is given."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    pipe = FluxPipeline(transformer=transformer, vae=vae, scheduler=scheduler or FlowMatchEulerDiscreteScheduler(),
                        text_encoder=enc["clip_l_plain"], tokenizer=enc["tokenizer"], text_encoder_2=enc["t5"],
                        tokenizer_2=enc["tokenizer_t5"])
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def encode_captions(enc: dict, captions: list[str], batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt_embeds (n, T5_CONTEXT, 128), pooled (n, 32)), as FluxPipeline.encode_prompt makes them."""
    from lib.miniature.trained.text import quiet_truncation

    pipe, pe, pooled = text_pipeline(enc), [], []
    with quiet_truncation():
        for i in range(0, len(captions), batch):
            e, p, _ = pipe.encode_prompt(captions[i:i + batch], None, device=torch.device("cpu"),
                                         max_sequence_length=T5_CONTEXT)
            pe.append(e)
            pooled.append(p)
    return torch.cat(pe), torch.cat(pooled)


def pack(latents: torch.Tensor) -> torch.Tensor:
    """(n, 16, h, w) latents -> (n, h/2 * w/2, 64) tokens: FluxPipeline's 2x2 packing."""
    from diffusers import FluxPipeline

    n, c, h, w = latents.shape
    return FluxPipeline._pack_latents(latents, n, c, h, w)


def ids(latent_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(img_ids, txt_ids): the RoPE positions FluxPipeline gives the image tokens and the (zero) text positions."""
    from diffusers import FluxPipeline

    img = FluxPipeline._prepare_latent_image_ids(1, latent_side // 2, latent_side // 2, torch.device("cpu"),
                                                 torch.float32)
    return img, torch.zeros(T5_CONTEXT, 3)


def _model(init: torch.nn.Module | None):
    from diffusers import FluxTransformer2DModel

    model = FluxTransformer2DModel(**transformer_config())
    if init is not None:
        model.load_state_dict(init.state_dict())
    return model


def train_teacher(packed: torch.Tensor, caption_index: torch.Tensor, embeds: torch.Tensor, pooled: torch.Tensor,
                  empty: tuple[torch.Tensor, torch.Tensor], latent_side: int, work: Path, steps: int = TEACHER_STEPS,
                  seed: int = 5, key: dict | None = None):
    """Fit the teacher FluxTransformer2DModel on packed, normalised latents and their captions' encodings."""
    from lib.miniature.trained.loop import train

    torch.manual_seed(seed)
    model = _model(None)
    img_ids, txt_ids = ids(latent_side)
    shift = dev_shift(packed.shape[1])
    empty_pe, empty_pooled = empty

    def loss_fn(m, gen):
        idx = torch.randint(len(packed), (BATCH,), generator=gen)
        x0, cap = packed[idx], caption_index[idx]
        pe, pp = embeds[cap].clone(), pooled[cap].clone()
        uncond = torch.rand(BATCH, generator=gen) < P_UNCOND
        pe[uncond], pp[uncond] = empty_pe, empty_pooled
        t = shift_timesteps(torch.sigmoid(torch.randn(BATCH, generator=gen)), shift)
        return _flow_loss(m, x0, torch.randn(x0.shape, generator=gen), t, pe, pp, img_ids, txt_ids)

    return train(model, loss_fn, steps=steps, lr=LR, seed=seed, work=work, label="FLUX-mini teacher", key=key,
                 math_attention=True)


def _flow_loss(m, x0, noise, t, pe, pp, img_ids, txt_ids) -> torch.Tensor:
    """Rectified flow: x_t = (1 - t) x_0 + t e; the network predicts e - x_0 (the pipeline passes t as timestep)."""
    tt = t.view(-1, 1, 1)
    xt = (1 - tt) * x0 + tt * noise
    v = m(hidden_states=xt, encoder_hidden_states=pe, pooled_projections=pp, timestep=t, img_ids=img_ids,
          txt_ids=txt_ids).sample
    return torch.nn.functional.mse_loss(v.float(), noise - x0)


@torch.no_grad()
def teacher_pairs(teacher, vae, enc: dict, captions: list[str], latent_side: int, seed: int = 7, batch: int = 256,
                  steps: int = PAIR_STEPS, guidance: float = PAIR_GUIDANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """(noises, images): packed latents the guided teacher draws from each noise with the real FluxPipeline
    (FLUX.1-dev's scheduler, true CFG against the empty prompt), one per caption."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from lib.miniature.trained.text import quiet_truncation

    pipe = text_pipeline(enc, teacher, FlowMatchEulerDiscreteScheduler(**DEV_SCHEDULER), vae)
    size = latent_side * pipe.vae_scale_factor
    gen = torch.Generator().manual_seed(seed)
    noises = torch.randn(len(captions), (latent_side // 2) ** 2, 64, generator=gen)
    from lib.miniature.trained.loop import autocast_dtype

    out, cast = [], autocast_dtype()
    with quiet_truncation(), torch.autocast("cpu", dtype=cast or torch.bfloat16, enabled=cast is not None):
        for i in range(0, len(captions), batch):
            chunk = captions[i:i + batch]
            out.append(pipe(prompt=chunk, negative_prompt=[""] * len(chunk), true_cfg_scale=guidance,
                            latents=noises[i:i + batch], height=size, width=size, num_inference_steps=steps,
                            max_sequence_length=T5_CONTEXT, output_type="latent").images.float())
            print(f"\rFLUX-mini teacher pairs: {min(i + batch, len(captions))}/{len(captions)}", end="",
                  file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return noises, torch.cat(out)


def train_student(teacher, noises: torch.Tensor, images: torch.Tensor, embeds: torch.Tensor, pooled: torch.Tensor,
                  latent_side: int, work: Path, steps: int = STUDENT_STEPS, seed: int = 9, key: dict | None = None):
    """Reflow: from the teacher's weights, learn the straight path noise -> teacher image, t uniform on [0, 1]
    (Liu et al. 2023's 2-rectified flow), every caption with its prompt (no dropout: the student runs unguided)."""
    from lib.miniature.trained.loop import train

    torch.manual_seed(seed)
    model = _model(teacher)
    img_ids, txt_ids = ids(latent_side)

    def loss_fn(m, gen):
        idx = torch.randint(len(images), (BATCH,), generator=gen)
        t = torch.rand(BATCH, generator=gen)
        return _flow_loss(m, images[idx], noises[idx], t, embeds[idx], pooled[idx], img_ids, txt_ids)

    return train(model, loss_fn, steps=steps, lr=STUDENT_LR, seed=seed, work=work, label="FLUX-mini student",
                 key=key, warmup=0.1, math_attention=True)
