"""Load SD3 or FLUX (GGUF transformer) for a config: weights resolved, device and dtype chosen, errors made clear."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lib.device import offload_allowed, pick_device, pick_dtype  # sets the MPS environment before torch
import torch

from lib.config import DiffusionConfig
from lib.errors import ConfigError, DeviceError, WeightsError
from lib.memory import PeakMemory, Stopwatch, empty_cache, module_bytes
from lib.weights import WeightPaths, download_command, resolve_weights

TEXT_ENCODERS = {"sd3": ("text_encoder", "text_encoder_2", "text_encoder_3"), "flux": ("text_encoder", "text_encoder_2")}
# Fields that fix what is loaded; a config differing in these needs a new load_pipeline call.
LOAD_FIELDS = ("model", "dtype", "quantization", "offload", "drop_t5", "miniature")


def _pipeline_class(family: str) -> type:
    from diffusers import FluxPipeline, StableDiffusion3Pipeline

    return StableDiffusion3Pipeline if family == "sd3" else FluxPipeline


@dataclass
class LoadedPipeline:
    """A diffusers pipeline plus what it was loaded from and on; text encoders may be freed and reloaded."""

    pipe: object
    config: DiffusionConfig
    weights: WeightPaths
    device: torch.device
    dtype: torch.dtype
    load_seconds: float = 0.0
    load_peak_bytes: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        """"miniature" or "weights": goes into every record."""
        return self.weights.source

    @property
    def text_encoder_names(self) -> tuple[str, ...]:
        names = TEXT_ENCODERS[self.config.spec.family]
        return tuple(n for n in names if not (self.config.drop_t5 and n == "text_encoder_3"))

    def text_encoders_loaded(self) -> bool:
        """True when every text encoder the config uses is in memory."""
        return all(getattr(self.pipe, n, None) is not None for n in self.text_encoder_names)

    def free_text_encoders(self) -> None:
        """Drop the text encoders and hand their memory back (staged execution)."""
        self.pipe.register_modules(**{n: None for n in self.text_encoder_names})
        empty_cache(self.device)

    def reload_text_encoders(self) -> None:
        """Load the text encoders again from the snapshot (after a staged run freed them)."""
        skip = {"transformer": None, "vae": None}
        if self.config.drop_t5:
            skip.update(text_encoder_3=None, tokenizer_3=None)
        encoders = _from_pretrained(self.config, self.weights, self.dtype, **skip)
        mods = {n: getattr(encoders, n).to(self.device) for n in self.text_encoder_names}
        self.pipe.register_modules(**mods)

    def resident_bytes(self) -> int:
        """Bytes of weights currently held by the pipeline's models.

        Cached per set of loaded models (walking every parameter costs ~1 ms, three times per image,
        which alone was most of the library's overhead over a plain diffusers call)."""
        names = ("transformer", "vae") + TEXT_ENCODERS[self.config.spec.family]
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


def _from_pretrained(config: DiffusionConfig, weights: WeightPaths, dtype: torch.dtype, **components: object):
    """diffusers from_pretrained on a local folder, its failures turned into WeightsError."""
    cls = _pipeline_class(config.spec.family)
    _quiet_loading()
    try:
        return cls.from_pretrained(str(weights.snapshot), dtype=dtype, local_files_only=True, **components)
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        fix = "rebuild the miniatures (delete their cache folder)" if weights.source == "miniature" else (
            "download it again: " + download_command(config.spec, config.quantization))
        raise WeightsError(f"could not load {config.model} from {weights.snapshot} ({first}); {fix}") from err


def _gguf_transformer(config: DiffusionConfig, weights: WeightPaths, dtype: torch.dtype):
    """The FLUX transformer from a BFL-keyed GGUF file and the snapshot's transformer/config.json."""
    from lib.gguf import load_flux_transformer_gguf

    try:
        return load_flux_transformer_gguf(weights.gguf, weights.snapshot, dtype)
    except (OSError, ValueError, KeyError) as err:
        raise WeightsError(f"could not read the GGUF transformer {weights.gguf} ({err}); "
                           f"download it again: {download_command(config.spec, config.quantization)}") from err


def load_pipeline(config: DiffusionConfig, paths: object | None = None,
                  device: str | torch.device | None = None) -> LoadedPipeline:
    """Resolve weights, pick device and dtype, and load the model's pipeline for `config`.

    `device` is a name for `pick_device` (None: the best available) or an already resolved torch.device."""
    weights = resolve_weights(config, paths)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    dtype = pick_dtype(dev, config.spec.family, config.dtype)
    if config.offload != "none" and not offload_allowed(dev):
        raise DeviceError(f"offload {config.offload!r} needs an accelerator (CUDA or MPS) and this run is on "
                          f"{dev.type}; use offload 'none' (staged execution already frees the text encoders)")
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
    return LoadedPipeline(pipe, config, weights, dev, dtype, clock.seconds, peak.peak_bytes)


def check_compatible(loaded: LoadedPipeline, config: DiffusionConfig) -> None:
    """A config run on a loaded pipeline must agree with it on everything that was loaded."""
    differ = [f for f in LOAD_FIELDS if getattr(config, f) != getattr(loaded.config, f)]
    if differ:
        raise ConfigError(f"this pipeline was loaded for a different {', '.join(differ)}; call load_pipeline "
                          "with the new config")
