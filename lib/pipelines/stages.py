"""Staged generation: encode every prompt, free the text encoders, load the transformer, denoise, free it, decode.

The peak of a plain diffusers call holds the text encoders (T5-XXL: 9.5 GB in bf16) next to the
transformer. Run staged (the default), the library loads the text encoders alone, encodes every prompt
(or reads the embeddings from the disk cache, `lib.pipelines.embeddings`, and loads no encoder at all),
frees them, then loads the transformer, denoises every image, frees the transformer, loads the VAE and
decodes: at no moment are T5 and the transformer resident together, nor the transformer and the VAE (see
chapter 5). Unstaged runs the plain
pipeline with everything loaded, as the comparison. Every stage and every load is measured.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import torch
from PIL import Image

from lib.config import DiffusionConfig
from lib.device import explain_mps_error
from lib.errors import OutputError
from lib.memory import PeakMemory, Stopwatch
from lib.pipelines import embeddings
from lib.pipelines.loading import (LoadedPipeline, StageRecord, check_compatible, component_class, prompt_key,
                                   text_build, uses_cfg)

STAGES = ("text_encoding", "denoising", "vae_decode")


@dataclass
class GenerationResult:
    """An image with the config that made it, its per-stage measurements, and the loads of its batch."""

    image: Image.Image
    config: DiffusionConfig
    stages: list[StageRecord] = field(default_factory=list)
    source: str = "miniature"
    device: str = "cpu"
    dtype: str = "float32"
    loads: list[StageRecord] = field(default_factory=list)  # shared by every image generated in one batch

    @property
    def seconds(self) -> float:
        """Total wall time of the three stages."""
        return sum(s.seconds for s in self.stages)

    @property
    def peak_bytes(self) -> int:
        """Highest peak over the stages."""
        return max(s.peak_bytes for s in self.stages)


def _measure(loaded: LoadedPipeline, name: str, fn: Callable[[], object], cached: bool = False):
    with Stopwatch(loaded.device) as clock, PeakMemory(loaded.device) as peak:
        try:
            out = fn()
        except NotImplementedError as err:  # an op without an MPS kernel: say how to run it anyway
            explained = explain_mps_error(err)
            if explained is None:
                raise
            raise explained from err
    return out, StageRecord(name, clock.seconds, peak.peak_bytes, loaded.resident_bytes(), cached)


@contextmanager
def _transformer_config_only(loaded: LoadedPipeline):
    """Lend the pipeline its transformer's config (not its weights) while encoding.

    SD3's encode_prompt reads `transformer.config.joint_attention_dim` to make the zero T5 embeddings when
    T5 is dropped (diffusers 0.42, pipeline_stable_diffusion_3.py `_get_t5_prompt_embeds`); in a staged
    text stage the transformer is deliberately not loaded, so it gets a stand-in holding the config alone."""
    pipe = loaded.pipe
    if getattr(pipe, "transformer", None) is not None or not (loaded.config.spec.family == "sd3" and loaded.config.drop_t5):
        yield
        return
    cls = component_class(loaded.weights, "transformer")
    config = cls.load_config(str(loaded.weights.snapshot), subfolder="transformer", local_files_only=True)
    object.__setattr__(pipe, "transformer", SimpleNamespace(config=SimpleNamespace(**config)))
    try:
        yield
    finally:
        object.__setattr__(pipe, "transformer", None)


def _encode(loaded: LoadedPipeline, c: DiffusionConfig) -> dict[str, torch.Tensor]:
    if loaded.source == "trained-miniature":  # their CLIP reads 8 tokens by design: no truncation warning
        from lib.miniature.trained.text import quiet_truncation

        with quiet_truncation():
            return _encode_prompt(loaded, c)
    return _encode_prompt(loaded, c)


def _encode_prompt(loaded: LoadedPipeline, c: DiffusionConfig) -> dict[str, torch.Tensor]:
    pipe = loaded.pipe
    with torch.no_grad(), _transformer_config_only(loaded):
        if c.spec.family == "sd3":
            cfg = uses_cfg(c)
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


def _text_stage(loaded: LoadedPipeline, configs: list[DiffusionConfig], use_cache: bool):
    """Embeddings and a text_encoding record per config: from the cache where possible, else encoded."""
    embeds: list[dict[str, torch.Tensor] | None] = [None] * len(configs)
    records: list[StageRecord | None] = [None] * len(configs)
    keys = [prompt_key(c, text_build(loaded.weights), loaded.dtype) for c in configs] if use_cache else []
    for i, key in enumerate(keys):
        embeds[i], rec = _measure(loaded, "text_encoding", lambda key=key: embeddings.load(key, loaded.device),
                                  cached=True)
        records[i] = rec if embeds[i] is not None else None
    to_encode = [i for i, e in enumerate(embeds) if e is None]
    if to_encode:
        if loaded.config.staged:  # the previous batch's transformer (if interrupted) or VAE: not next to T5
            loaded.free_transformer()
            loaded.free_decoder()
        loaded.load_text_encoders()
    for i in to_encode:
        embeds[i], records[i] = _measure(loaded, "text_encoding", lambda c=configs[i]: _encode(loaded, c))
        if use_cache:
            embeddings.save(keys[i], embeds[i])
    return embeds, records


def generate_many(loaded: LoadedPipeline, configs: list[DiffusionConfig],
                  on_result: Callable[[int, GenerationResult], None] | None = None,
                  use_cache: bool = True) -> list[GenerationResult]:
    """Generate one image per config, staged or not (as the pipeline was loaded); results in `configs` order.

    `on_result(index, result)` sees each image as soon as it exists (decoding is the last stage, so a
    staged batch delivers its images at the end). `use_cache=False` always runs the text encoders."""
    if not configs:
        return []
    for c in configs:
        check_compatible(loaded, c)
    reported = loaded.extra.get("_loads_reported", 0)  # loads not yet attached to a result: this batch's
    results: list[GenerationResult] = []
    text_records: list[StageRecord | None] = []

    def finish(i: int, latents: torch.Tensor, denoise_record: StageRecord) -> None:
        image, decode_record = _measure(loaded, "vae_decode", lambda: _decode(loaded, configs[i], latents))
        results.append(GenerationResult(image, configs[i], [text_records[i], denoise_record, decode_record],
                                        loaded.source, loaded.device.type, str(loaded.dtype).replace("torch.", ""),
                                        list(loaded.loads[reported:])))
        if on_result is not None:
            on_result(i, results[-1])  # e.g. store it now, so an interrupted run resumes after it

    staged = loaded.config.staged
    try:
        embeds, text_records[:] = _text_stage(loaded, configs,
                                              use_cache and staged and embeddings.cache_dir() is not None)
        if staged:
            loaded.free_text_encoders()
            loaded.load_denoiser()
        _denoise_and_decode(loaded, configs, embeds, finish)
    finally:  # this batch's loads belong to its results only, also when it was interrupted before any image
        loaded.extra["_loads_reported"] = len(loaded.loads)
    return results


def _denoise_and_decode(loaded: LoadedPipeline, configs: list[DiffusionConfig],
                        embeds: list[dict[str, torch.Tensor]], finish: Callable) -> None:
    """Staged: denoise every image, free the transformer, load the VAE, decode; unstaged: image by image."""
    if loaded.config.staged:
        denoised = []
        try:
            for c, e in zip(configs, embeds):
                denoised.append(_measure(loaded, "denoising", lambda c=c, e=e: _denoise(loaded, c, e)))
        finally:  # also when interrupted: the latents already made are decoded and delivered, not lost
            loaded.free_transformer()  # decoding needs only the VAE
            if denoised:
                loaded.load_decoder()
            for i, (latents, rec) in enumerate(denoised):
                finish(i, latents, rec)
    else:
        for i, (c, e) in enumerate(zip(configs, embeds)):
            latents, rec = _measure(loaded, "denoising", lambda: _denoise(loaded, c, e))
            finish(i, latents, rec)


def generate(loaded: LoadedPipeline, config: DiffusionConfig | None = None) -> GenerationResult:
    """One image for `config` (default: the config the pipeline was loaded with)."""
    return generate_many(loaded, [config or loaded.config])[0]
