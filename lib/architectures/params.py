"""Build the real diffusers/transformers classes from `specs` on the meta device and count their parameters.

On `torch.device("meta")` a module gets shapes but no storage: the 12-billion-parameter FLUX transformer
builds in a fraction of a second and takes no memory. We build under the meta device itself, not under
`accelerate.init_empty_weights()`: under transformers 5 the latter leaves T5's input embedding untied from
its shared embedding and counts it twice.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from lib.architectures import specs

_DIFFUSERS = {"UNet2DConditionModel", "SD3Transformer2DModel", "FluxTransformer2DModel", "AutoencoderKL"}
_TRANSFORMERS = {
    "CLIPTextModel": "CLIPTextConfig",
    "CLIPTextModelWithProjection": "CLIPTextConfig",
    "T5EncoderModel": "T5Config",
}


class ArchitectureError(ValueError):
    """A model or component name this chapter does not know."""


def build_meta(cls_name: str, config: dict) -> torch.nn.Module:
    """Instantiate `cls_name` from `config` with meta tensors: real module tree, no weights."""
    if cls_name in _DIFFUSERS:
        import diffusers

        cls = getattr(diffusers, cls_name)
        with torch.device("meta"):
            return cls(**config)
    if cls_name in _TRANSFORMERS:
        import transformers

        cfg = getattr(transformers, _TRANSFORMERS[cls_name])(**config)
        with torch.device("meta"):
            return getattr(transformers, cls_name)(cfg)
    raise ArchitectureError(f"unknown class {cls_name!r}; use one of {sorted(_DIFFUSERS | set(_TRANSFORMERS))}")


def count(module: torch.nn.Module) -> int:
    """Number of parameters, each shared tensor counted once (what a checkpoint stores)."""
    return sum(p.numel() for p in module.parameters())


def spec(model_key: str) -> specs.Architecture:
    """The `Architecture` for a key of `specs.MODELS`, with a helpful error for a wrong key."""
    try:
        return specs.MODELS[model_key]
    except KeyError:
        raise ArchitectureError(f"unknown model {model_key!r}; use one of {list(specs.MODELS)}") from None


def component(model_key: str, name: str) -> specs.Component:
    """The component of a model by its short name (e.g. 'T5-XXL', 'U-Net')."""
    for comp in spec(model_key).components:
        if comp.name == name:
            return comp
    names = [c.name for c in spec(model_key).components]
    raise ArchitectureError(f"{model_key} has no component {name!r}; it has {names}")


@lru_cache(maxsize=None)
def _count_cached(cls_name: str, config_items: tuple) -> int:
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config_items}
    return count(build_meta(cls_name, config))


def _freeze(config: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in config.items()))


def component_params(comp: specs.Component) -> int:
    """Parameter count of one component, computed from its class and config (cached per config)."""
    return _count_cached(comp.cls, _freeze(comp.config))


def model_params(model_key: str) -> dict[str, int]:
    """Parameters of every component of a model, by component name."""
    return {c.name: component_params(c) for c in spec(model_key).components}


def denoiser(model_key: str) -> torch.nn.Module:
    """The model's denoiser (U-Net or transformer) built on the meta device."""
    comp = spec(model_key).of_role("denoiser")[0]
    return build_meta(comp.cls, comp.config)


def named_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of every parameter and persistent buffer, as a checkpoint would store them."""
    return {name: tuple(t.shape) for name, t in module.state_dict().items()}


def flux_schnell_named_shapes(layout: str = "bfl") -> dict[str, tuple[int, ...]]:
    """FLUX.1-schnell transformer tensors from the meta model, in BFL (GGUF files) or diffusers naming."""
    shapes = named_shapes(denoiser("flux_schnell"))
    if layout == "diffusers":
        return shapes
    if layout == "bfl":  # the same renaming the GGUF writer uses, run on meta tensors (no memory)
        from lib.gguf.keymap import diffusers_to_bfl

        return {k: tuple(t.shape) for k, t in diffusers_to_bfl(denoiser("flux_schnell").state_dict()).items()}
    raise ArchitectureError(f"layout {layout!r}: use 'bfl' (Black Forest Labs / GGUF key names) or 'diffusers'")
