"""Staged generation: encode every prompt, free the text encoders, denoise, decode; each stage measured.

The peak of a plain diffusers call holds the text encoders (T5-XXL: 9.5 GB in bf16) next to the
transformer. Encoding first and freeing the encoders before denoising keeps only one of them resident
at a time, which is what lets FLUX fit a 16 GB Mac (see chapter 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from PIL import Image

from lib.config import DiffusionConfig
from lib.errors import ConfigError, OutputError
from lib.memory import PeakMemory, Stopwatch
from lib.pipelines.loading import LoadedPipeline, check_compatible

STAGES = ("text_encoding", "denoising", "vae_decode")


@dataclass(frozen=True)
class StageRecord:
    """One stage of one image: wall seconds, peak device memory, and bytes of weights resident."""

    name: str
    seconds: float
    peak_bytes: int
    weights_bytes: int


@dataclass
class GenerationResult:
    """An image with the config that made it and its per-stage measurements."""

    image: Image.Image
    config: DiffusionConfig
    stages: list[StageRecord] = field(default_factory=list)
    source: str = "miniature"
    device: str = "cpu"
    dtype: str = "float32"

    @property
    def seconds(self) -> float:
        """Total wall time of the three stages."""
        return sum(s.seconds for s in self.stages)

    @property
    def peak_bytes(self) -> int:
        """Highest peak over the stages."""
        return max(s.peak_bytes for s in self.stages)


def _measure(loaded: LoadedPipeline, name: str, fn: Callable[[], object]) -> tuple[object, StageRecord]:
    with Stopwatch(loaded.device) as clock, PeakMemory(loaded.device) as peak:
        out = fn()
    return out, StageRecord(name, clock.seconds, peak.peak_bytes, loaded.resident_bytes())


def _encode(loaded: LoadedPipeline, c: DiffusionConfig) -> dict[str, torch.Tensor]:
    pipe = loaded.pipe
    with torch.no_grad():
        if c.spec.family == "sd3":
            cfg = c.guidance > 1  # SD3 applies CFG only when guidance_scale > 1
            pe, npe, ppe, nppe = pipe.encode_prompt(c.prompt, None, None, device=loaded.device,
                                                    do_classifier_free_guidance=cfg,
                                                    max_sequence_length=c.max_sequence_length)
            out = {"prompt_embeds": pe, "pooled_prompt_embeds": ppe}
            if cfg:
                out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=nppe)
            return out
        pe, ppe, _ = pipe.encode_prompt(c.prompt, None, device=loaded.device, max_sequence_length=c.max_sequence_length)
        return {"prompt_embeds": pe, "pooled_prompt_embeds": ppe}


def _denoise(loaded: LoadedPipeline, c: DiffusionConfig, embeds: dict[str, torch.Tensor]) -> torch.Tensor:
    generator = torch.Generator("cpu").manual_seed(c.seed)  # CPU generator: same noise on every device
    extra = {"max_sequence_length": c.max_sequence_length}
    return loaded.pipe(**embeds, **extra, height=c.height, width=c.width, num_inference_steps=c.steps,
                       guidance_scale=c.guidance, generator=generator, output_type="latent").images


def _decode(loaded: LoadedPipeline, c: DiffusionConfig, latents: torch.Tensor) -> Image.Image:
    pipe = loaded.pipe
    if not torch.isfinite(latents).all():
        raise OutputError(_nan_message(loaded, "the denoiser's latents contain NaN/inf"))
    with torch.no_grad():
        if c.spec.family == "flux":
            latents = pipe._unpack_latents(latents, c.height, c.width, pipe.vae_scale_factor)
        latents = latents / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
        pixels = pipe.vae.decode(latents.to(pipe.vae.dtype), return_dict=False)[0]
    if not torch.isfinite(pixels).all():
        raise OutputError(_nan_message(loaded, "the decoded image contains NaN/inf"))
    if float(pixels.max()) <= -1 + 2 / 255:  # VAE output lives in [-1, 1]; all values at -1 is black
        raise OutputError(_nan_message(loaded, "the decoded image is all black"))
    return pipe.image_processor.postprocess(pixels.float(), output_type="pil")[0]


def _nan_message(loaded: LoadedPipeline, what: str) -> str:
    dtype = str(loaded.dtype).replace("torch.", "")
    hint = ("float16 overflows in FLUX and in SD3's T5; rerun with --dtype float32 (or bfloat16 on macOS 14+ / recent GPUs)"
            if loaded.dtype == torch.float16 else
            "check the weights (a corrupt or wrongly converted file) or rerun with --dtype float32")
    return f"{loaded.config.model} produced a bad image in {dtype}: {what}; {hint}"


def generate_many(loaded: LoadedPipeline, configs: list[DiffusionConfig],
                  on_result: Callable[[int, GenerationResult], None] | None = None) -> list[GenerationResult]:
    """Generate one image per config: all prompts encoded first, encoders freed (if staged), then denoise+decode.

    Results come in the order of `configs`; `on_result(index, result)` sees each as soon as it exists."""
    if not configs:
        return []
    for c in configs:
        check_compatible(loaded, c)
    if len({c.staged for c in configs}) > 1:
        raise ConfigError("configs in one batch must agree on staged")
    if not loaded.text_encoders_loaded():
        loaded.reload_text_encoders()
    stages: list[list[StageRecord]] = []
    embeds = []
    for c in configs:
        e, rec = _measure(loaded, "text_encoding", lambda c=c: _encode(loaded, c))
        embeds.append(e)
        stages.append([rec])
    if configs[0].staged:
        loaded.free_text_encoders()
    results = []
    for index, (c, e, recs) in enumerate(zip(configs, embeds, stages)):
        latents, rec = _measure(loaded, "denoising", lambda: _denoise(loaded, c, e))
        recs.append(rec)
        image, rec = _measure(loaded, "vae_decode", lambda: _decode(loaded, c, latents))
        recs.append(rec)
        results.append(GenerationResult(image, c, recs, loaded.source, loaded.device.type,
                                        str(loaded.dtype).replace("torch.", "")))
        if on_result is not None:
            on_result(index, results[-1])  # e.g. store it now, so an interrupted run resumes after it
    return results


def generate(loaded: LoadedPipeline, config: DiffusionConfig | None = None) -> GenerationResult:
    """One image for `config` (default: the config the pipeline was loaded with)."""
    return generate_many(loaded, [config or loaded.config])[0]
