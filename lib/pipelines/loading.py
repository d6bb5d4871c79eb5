"""Load SD3 or FLUX (GGUF transformer) for a config: weights resolved, device and dtype chosen, errors made clear.

Staged (the default) loads nothing heavy up front: the stages of `lib.pipelines.stages` load the text
encoders, free them, then load the transformer, and the VAE only once the transformer is freed, so T5 and the
transformer are never resident together (chapter 5 shows why a 16 GB Mac needs this). Unstaged is the plain diffusers pipeline with every
component loaded at once, kept as the comparison.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import warnings

import torch

from lib.device import check_offload, pick_device, pick_dtype
from lib.config import DiffusionConfig
from lib.errors import ConfigError, WeightsError
from lib.memory import PeakMemory, Stopwatch, empty_cache, module_bytes
from lib.weights import WeightPaths, download_command, resolve_weights

TEXT_ENCODERS = {"sd3": ("text_encoder", "text_encoder_2", "text_encoder_3"), "flux": ("text_encoder", "text_encoder_2")}
DENOISER = ("transformer", "vae")  # staged: the transformer, then (once it is freed) the VAE
# Fields that fix what is loaded; a config differing in these needs a new load_pipeline call.
LOAD_FIELDS = ("model", "dtype", "quantization", "offload", "drop_t5", "miniature", "trained", "staged")


def _pipeline_class(family: str) -> type:
    from diffusers import FluxPipeline, StableDiffusion3Pipeline

    return StableDiffusion3Pipeline if family == "sd3" else FluxPipeline


def weights_build(weights: WeightPaths) -> str:
    """Which weights these are: the miniature build, or the snapshot folder (the hub commit) and GGUF file."""
    if weights.source == "miniature":
        from lib.miniature import MINIATURE_VERSION

        return f"miniature-{MINIATURE_VERSION}"
    if weights.source == "trained-miniature":
        from lib.miniature.trained import weights_digest

        return (f"trained-miniature {weights.snapshot.name} {weights_digest(weights.snapshot)}"
                + (f", {weights.gguf.stem.removeprefix('flux-trained-')} GGUF" if weights.gguf else ""))
    return f"snapshot {weights.snapshot.name}" + (f", {weights.gguf.name}" if weights.gguf else "")


@dataclass(frozen=True)
class StageRecord:
    """One measured step: wall seconds, peak memory on the device, bytes of weights resident at its end.

    Stages of an image: text_encoding, denoising, vae_decode. Loads: load_text_encoders, load_denoiser
    (the transformer), load_decoder (the VAE), load_all (unstaged). `cached` marks a text_encoding served from the embedding cache."""

    name: str
    seconds: float
    peak_bytes: int
    weights_bytes: int
    cached: bool = False


@dataclass
class LoadedPipeline:
    """A diffusers pipeline whose heavy components load and free stage by stage, each load measured."""

    pipe: object
    config: DiffusionConfig
    weights: WeightPaths
    device: torch.device
    dtype: torch.dtype
    loads: list[StageRecord] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        """"miniature", "trained-miniature", "weights" or "random-weights-full-size": goes into every record."""
        return self.weights.source

    @property
    def build(self) -> str:
        """Which weights (see weights_build)."""
        return weights_build(self.weights)

    @property
    def text_encoder_names(self) -> tuple[str, ...]:
        """The text encoders this pipeline's config runs."""
        return text_encoders_used(self.config)

    def text_encoders_loaded(self) -> bool:
        """True when every text encoder the config uses is in memory."""
        return all(getattr(self.pipe, n, None) is not None for n in self.text_encoder_names)

    def _measured_load(self, name: str, load: Callable[[], dict[str, object]]) -> None:
        with Stopwatch(self.device) as clock, PeakMemory(self.device) as peak:
            self.pipe.register_modules(**load())
        self.loads.append(StageRecord(name, clock.seconds, peak.peak_bytes, self.resident_bytes()))

    def load_text_encoders(self) -> None:
        """Load the text encoders the config uses, straight onto the device."""
        missing = [n for n in self.text_encoder_names if getattr(self.pipe, n, None) is None]
        if missing:
            self._measured_load("load_text_encoders", lambda: {n: _component(self, n) for n in missing})

    def free_text_encoders(self) -> None:
        """Drop the text encoders and hand their memory back."""
        self._free(*TEXT_ENCODERS[self.config.spec.family])

    def load_denoiser(self) -> None:
        """Load the transformer (GGUF or not) straight onto the device; staged, the VAE leaves first.

        Decoding needs the VAE only after the transformer is freed, so the two are never resident together
        in a staged run: the denoising peak is the transformer's alone (0.17 GB less at full size)."""
        if self.config.staged:
            self.free_decoder()
        if getattr(self.pipe, "transformer", None) is None:
            self._measured_load("load_denoiser", lambda: {"transformer": _component(self, "transformer")})

    def load_decoder(self) -> None:
        """Load the VAE straight onto the device (staged: after the transformer was freed)."""
        if getattr(self.pipe, "vae", None) is None:
            self._measured_load("load_decoder", lambda: {"vae": _component(self, "vae")})

    def free_decoder(self) -> None:
        """Drop the VAE (staged: before the text encoders or the transformer load)."""
        self._free("vae")

    def free_transformer(self) -> None:
        """Drop the transformer before decoding (the VAE alone is all that decoding needs)."""
        self._free("transformer")

    def _free(self, *names: str) -> None:
        if any(getattr(self.pipe, n, None) is not None for n in names):
            self.pipe.register_modules(**{n: None for n in names})
            empty_cache(self.device)

    def resident_bytes(self) -> int:
        """Bytes of weights currently held by the pipeline's models.

        Cached per set of loaded models (walking every parameter costs ~1 ms, three times per image,
        which alone was most of the library's overhead over a plain diffusers call)."""
        names = DENOISER + TEXT_ENCODERS[self.config.spec.family]
        modules = tuple(getattr(self.pipe, n, None) for n in names)
        key = tuple(id(m) for m in modules)
        if self.extra.get("_resident_key") != key:
            self.extra["_resident_key"], self.extra["_resident_bytes"] = key, module_bytes(*modules)
        return self.extra["_resident_bytes"]


def _quiet_loading() -> None:
    """Hide diffusers'/transformers' per-file loading bars (noise in chapters and logs; our CLI shows its own)."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    dlog.disable_progress_bar()
    tlog.disable_progress_bar()


def _load_failed(config: DiffusionConfig, weights: WeightPaths, where: Path, err: Exception) -> WeightsError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    fix = {"miniature": "rebuild the miniatures (delete their cache folder)",
           "trained-miniature": "restore the committed files (git checkout precomputed/trained-miniatures) or "
                                "retrain them with `python -m lib train-miniatures`"}.get(
        weights.source, "download it again: " + download_command(config.spec, config.quantization))
    return WeightsError(f"could not load {config.model} from {where} ({first}); {fix}")


def _vae_scale_from_config(pipe, config: DiffusionConfig, weights: WeightPaths) -> None:
    """A pipeline built without its VAE assumes diffusers' default 8x downsampling; set the snapshot's own (the
    trained miniatures' autoencoder has three levels: 4x) before any latent is sized or decoded."""
    from diffusers import AutoencoderKL
    from diffusers.image_processor import VaeImageProcessor

    vae_config = AutoencoderKL.load_config(str(weights.snapshot), subfolder="vae", local_files_only=True)
    factor = 2 ** (len(vae_config["block_out_channels"]) - 1)
    if factor != pipe.vae_scale_factor:
        pipe.vae_scale_factor = factor
        # FLUX packs 2 x 2 latent patches, so its image processor works at twice the VAE's factor
        pipe.image_processor = VaeImageProcessor(vae_scale_factor=factor * (2 if config.spec.family == "flux" else 1))


def _from_pretrained(config: DiffusionConfig, weights: WeightPaths, dtype: torch.dtype, **components: object):
    """diffusers from_pretrained of the whole pipeline on a local folder, its failures turned into WeightsError."""
    cls = _pipeline_class(config.spec.family)
    _quiet_loading()
    try:
        return cls.from_pretrained(str(weights.snapshot), dtype=dtype, local_files_only=True, **components)
    except (OSError, ValueError, KeyError) as err:
        raise _load_failed(config, weights, weights.snapshot, err) from err


def component_class(weights: WeightPaths, name: str) -> type:
    """The class of one component, as the snapshot's model_index.json names it (e.g. T5EncoderModel)."""
    library, cls_name = json.loads((weights.snapshot / "model_index.json").read_text())[name]
    return getattr(importlib.import_module(library), cls_name)


def _component(loaded: LoadedPipeline, name: str) -> torch.nn.Module:
    """One model of the snapshot (class from its model_index.json), on the device, in the compute dtype."""
    config, weights = loaded.config, loaded.weights
    if name == "transformer" and weights.gguf is not None:
        return _gguf_transformer(config, weights, loaded.dtype).to(loaded.device)
    try:
        cls = component_class(weights, name)
        _quiet_loading()
        # Straight onto an accelerator (device_map) rather than CPU first and a copy after: on unified memory
        # the two copies would coexist for a moment and double the component's peak.
        placement = {"device_map": str(loaded.device)} if loaded.device.type != "cpu" else {}
        model = cls.from_pretrained(str(weights.snapshot), subfolder=name, dtype=loaded.dtype,
                                    local_files_only=True, **placement)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError) as err:
        raise _load_failed(config, weights, weights.snapshot / name, err) from err
    return model.to(loaded.device).eval()


def _gguf_transformer(config: DiffusionConfig, weights: WeightPaths, dtype: torch.dtype):
    """The FLUX transformer from a BFL-keyed GGUF file and the snapshot's transformer/config.json."""
    from lib.gguf import load_flux_transformer_gguf

    try:
        return load_flux_transformer_gguf(weights.gguf, weights.snapshot, dtype)
    except (OSError, ValueError, KeyError) as err:
        raise WeightsError(f"could not read the GGUF transformer {weights.gguf} ({err}); "
                           f"download it again: {download_command(config.spec, config.quantization)}") from err


def text_encoders_used(config: DiffusionConfig) -> tuple[str, ...]:
    """The text encoders a config runs (SD3 without T5 leaves text_encoder_3 out)."""
    return tuple(n for n in TEXT_ENCODERS[config.spec.family] if not (config.drop_t5 and n == "text_encoder_3"))


def uses_cfg(config: DiffusionConfig) -> bool:
    """Whether the run needs negative (unconditional) embeddings: SD3 applies CFG only when guidance > 1."""
    return config.spec.family == "sd3" and config.guidance > 1


def prompt_key(config: DiffusionConfig, build: str, dtype: torch.dtype) -> str:
    """The embedding-cache key of a config's prompt (lib.pipelines.embeddings)."""
    from lib.pipelines import embeddings

    return embeddings.cache_key(config.model, build, text_encoders_used(config), config.prompt,
                                config.max_sequence_length, uses_cfg(config), dtype)


def text_build(weights: WeightPaths) -> str:
    """The build of the text encoders alone: the transformer's GGUF file does not change a prompt's embeddings."""
    return weights_build(replace(weights, gguf=None))


def _embeddings_cached(config: DiffusionConfig, weights: WeightPaths, dtype: torch.dtype) -> bool:
    """True when this config's prompt embeddings are in the disk cache (its text stage will load nothing)."""
    from lib.pipelines import embeddings

    folder = embeddings.cache_dir()
    key = prompt_key(config, text_build(weights), dtype)
    return folder is not None and (folder / f"{key}.safetensors").is_file()


class MemoryWarning(UserWarning):
    """The planned peak is close to this machine's memory (lib.plan.check_memory): the run may swap or fail."""


def load_pipeline(config: DiffusionConfig, paths: object | None = None, device: str | torch.device | None = None,
                  use_cache: bool = False, batch: list[DiffusionConfig] | None = None) -> LoadedPipeline:
    """Resolve weights, pick device and dtype, and prepare the model's pipeline for `config`.

    Staged: only tokenizers and scheduler now; the stages load and free the models. Unstaged: every
    component now, as a plain diffusers pipeline. `device` is a name for `pick_device` (None: the best
    available) or an already resolved torch.device. The memory pre-check plans for the text encoders unless
    `use_cache` and every prompt of `batch` (default: the config's) is in the embedding cache."""
    from lib.plan import check_memory

    weights = resolve_weights(config, paths)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    dtype = pick_dtype(dev, config.spec.family, config.dtype)
    check_offload(config.offload, dev, weights.gguf is not None)
    if config.offload != "none" and config.staged:
        raise ConfigError(f"offload {config.offload!r} moves a whole loaded pipeline between devices; use it with "
                          "staged=False (--unstaged), or keep the default staged execution, which frees instead")
    # Before any load: the planned peak against this machine's memory (a Mac: Metal's working set). Offloading
    # moves components between devices in ways the plan does not model, so it is not checked.
    if config.offload == "none":
        cached = config.staged and use_cache and all(_embeddings_cached(c, weights, dtype) for c in batch or [config])
        warning = check_memory(config, dev, dtype, text_cached=cached)
        if warning:
            warnings.warn(warning, MemoryWarning, stacklevel=2)
    heavy = TEXT_ENCODERS[config.spec.family] + DENOISER
    if config.staged:
        skip = {n: None for n in heavy}
        if config.drop_t5:
            skip.update(tokenizer_3=None)
        pipe = _from_pretrained(config, weights, dtype, **skip)  # tokenizers and scheduler: kilobytes
        _vae_scale_from_config(pipe, config, weights)
        pipe.set_progress_bar_config(disable=True)
        return LoadedPipeline(pipe, config, weights, dev, dtype)
    components: dict[str, object] = {}
    if config.drop_t5:
        components.update(text_encoder_3=None, tokenizer_3=None)
    with Stopwatch(dev) as clock, PeakMemory(dev) as peak:
        if weights.gguf is not None:
            components["transformer"] = _gguf_transformer(config, weights, dtype)
        pipe = _from_pretrained(config, weights, dtype, **components)
        if config.offload == "model":
            pipe.enable_model_cpu_offload(device=dev)
        elif config.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=dev)
        else:
            pipe.to(dev)
        pipe.set_progress_bar_config(disable=True)
    loaded = LoadedPipeline(pipe, config, weights, dev, dtype)
    loaded.loads.append(StageRecord("load_all", clock.seconds, peak.peak_bytes, loaded.resident_bytes()))
    return loaded


def check_compatible(loaded: LoadedPipeline, config: DiffusionConfig) -> None:
    """A config run on a loaded pipeline must agree with it on everything that was loaded."""
    differ = [f for f in LOAD_FIELDS if getattr(config, f) != getattr(loaded.config, f)]
    if differ:
        raise ConfigError(f"this pipeline was loaded for a different {', '.join(differ)}; call load_pipeline "
                          "with the new config")
