"""Published configurations of the denoisers, text encoders and VAEs of SD 1.5 to FLUX.1, kept as data.

Each dict equals the architecture fields of the `config.json` in the Hugging Face repository named in
its `source` (fields that only affect inference, like scaling factors, are kept where a chapter uses them).
Nothing here holds weights; `lib.architectures.params` builds the classes from these values on the meta
device and counts their parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.registry import PRESETS

# The two models the book runs have their facts (repo ids, default steps and tokens) in lib.registry;
# the others, shown only in chapter 2's comparison, have them here.
_SD3, _SCHNELL = PRESETS["sd3-medium"], PRESETS["flux-schnell"]
SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # mirror of runwayml/stable-diffusion-v1-5
SD21_REPO = "stabilityai/stable-diffusion-2-1"
SDXL_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
SD3_REPO = _SD3.repo_id
SCHNELL_REPO = _SCHNELL.repo_id
DEV_REPO = "black-forest-labs/FLUX.1-dev"

_UNET_COMMON = {
    "act_fn": "silu",
    "center_input_sample": False,
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
}
_SD_DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
_SD_UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]

# <repo>/unet/config.json
SD15_UNET = {
    **_UNET_COMMON,
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "cross_attention_dim": 768,
    "down_block_types": _SD_DOWN,
    "up_block_types": _SD_UP,
    "sample_size": 64,
}
SD21_UNET = {
    **_UNET_COMMON,
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "cross_attention_dim": 1024,
    "down_block_types": _SD_DOWN,
    "up_block_types": _SD_UP,
    "sample_size": 96,
    "upcast_attention": True,
    "use_linear_projection": True,
}
SDXL_UNET = {
    **_UNET_COMMON,
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "projection_class_embeddings_input_dim": 2816,
    "sample_size": 128,
    "transformer_layers_per_block": [1, 2, 10],
    "use_linear_projection": True,
}

# <repo>/transformer/config.json
SD3_TRANSFORMER = {
    "attention_head_dim": 64,
    "caption_projection_dim": 1536,
    "in_channels": 16,
    "joint_attention_dim": 4096,
    "num_attention_heads": 24,
    "num_layers": 24,
    "out_channels": 16,
    "patch_size": 2,
    "pooled_projection_dim": 2048,
    "pos_embed_max_size": 192,
    "sample_size": 128,
}
FLUX_SCHNELL_TRANSFORMER = {
    "attention_head_dim": 128,
    "axes_dims_rope": [16, 56, 56],
    "guidance_embeds": False,
    "in_channels": 64,
    "joint_attention_dim": 4096,
    "num_attention_heads": 24,
    "num_layers": 19,
    "num_single_layers": 38,
    "patch_size": 1,
    "pooled_projection_dim": 768,
}
# FLUX.1-dev differs only by its guidance embedder (guidance distillation, {cite}`bfl2024flux`).
FLUX_DEV_TRANSFORMER = {**FLUX_SCHNELL_TRANSFORMER, "guidance_embeds": True}

# <repo>/vae/config.json: SD 1.x/2.x/XL use 4 latent channels, SD3 and FLUX 16 (without quant convs).
_VAE_COMMON = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "in_channels": 3,
    "out_channels": 3,
    "layers_per_block": 2,
    "norm_num_groups": 32,
}
VAE_4CH = {**_VAE_COMMON, "latent_channels": 4, "sample_size": 512, "scaling_factor": 0.18215}
VAE_16CH_SD3 = {
    **_VAE_COMMON, "latent_channels": 16, "sample_size": 1024, "scaling_factor": 1.5305,
    "shift_factor": 0.0609, "use_quant_conv": False, "use_post_quant_conv": False,
}
VAE_16CH_FLUX = {**VAE_16CH_SD3, "scaling_factor": 0.3611, "shift_factor": 0.1159}

# Text encoders: <repo>/text_encoder*/config.json (transformers CLIPTextConfig / T5Config fields).
_CLIP_COMMON = {"vocab_size": 49408, "max_position_embeddings": 77, "layer_norm_eps": 1e-05}
CLIP_L = {  # OpenAI CLIP ViT-L/14 text tower {cite}`radford2021clip`
    **_CLIP_COMMON, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
    "num_hidden_layers": 12, "hidden_act": "quick_gelu", "projection_dim": 768,
}
OPENCLIP_H = {  # OpenCLIP ViT-H/14 text tower, penultimate layer kept (23 of 24 layers) in SD 2.x
    **_CLIP_COMMON, "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
    "num_hidden_layers": 23, "hidden_act": "gelu", "projection_dim": 512,
}
CLIP_G = {  # OpenCLIP ViT-bigG/14 text tower
    **_CLIP_COMMON, "hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 20,
    "num_hidden_layers": 32, "hidden_act": "gelu", "projection_dim": 1280,
}
T5_XXL = {  # google/t5-v1_1-xxl encoder {cite}`raffel2020t5`, as SD3's text_encoder_3 and FLUX's text_encoder_2
    "d_model": 4096, "d_ff": 10240, "d_kv": 64, "num_heads": 64, "num_layers": 24, "vocab_size": 32128,
    "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": True,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "tie_word_embeddings": False, "layer_norm_epsilon": 1e-06,
}


@dataclass(frozen=True)
class Component:
    """One model component: what it is, the class that builds it, its config and where that config is published."""

    role: str  # "denoiser", "text encoder", "vae"
    name: str
    cls: str  # diffusers/transformers class name
    config: dict
    repo: str
    subfolder: str  # the component's folder in a diffusers snapshot of repo

    @property
    def source(self) -> str:
        """Where the config is published: <repo>/<subfolder>/config.json."""
        return f"{self.repo}/{self.subfolder}/config.json"


@dataclass(frozen=True)
class Architecture:
    """A text-to-image model's architecture: its components plus the published facts the table shows beside the counts."""

    key: str
    name: str
    year: int
    denoiser_type: str
    components: tuple[Component, ...]
    objective: str
    objective_source: str
    steps: int
    steps_source: str
    tokens: dict = field(default_factory=dict)  # text tokens per encoder at inference

    def of_role(self, role: str) -> list[Component]:
        """The components playing `role`."""
        return [c for c in self.components if c.role == role]


def _c(role: str, name: str, cls: str, config: dict, repo: str, sub: str) -> Component:
    return Component(role, name, cls, config, repo, sub)


def _sd_unet(key: str, name: str, year: int, repo: str, unet: dict, encoders: tuple, prediction: str,
             pipeline: str) -> Architecture:
    """An SD 1.x/2.x/XL model: U-Net, CLIP text encoder(s) given as (name, class, config, subfolder), the
    4-channel VAE, the scheduler's prediction type, and the pipeline's default of 50 steps."""
    components = (
        _c("denoiser", "U-Net", "UNet2DConditionModel", unet, repo, "unet"),
        *(_c("text encoder", n, cls, config, repo, sub) for n, cls, config, sub in encoders),
        _c("vae", "VAE (4 ch)", "AutoencoderKL", VAE_4CH, repo, "vae"),
    )
    objective = {"epsilon": "ε-prediction", "v_prediction": "v-prediction"}[prediction]
    return Architecture(
        key, name, year, "U-Net (cross-attention)", components,
        objective, f"{repo}/scheduler/scheduler_config.json (prediction_type: {prediction})",
        50, f"diffusers {pipeline} default num_inference_steps",
        {n: config["max_position_embeddings"] for n, _, config, _ in encoders},
    )


def _flux(key: str, name: str, repo: str, transformer: dict, objective: str, objective_source: str, steps: int,
          steps_source: str, t5_tokens: int) -> Architecture:
    """A FLUX.1 model: the FLUX transformer, CLIP-L and T5-XXL, the 16-channel FLUX VAE."""
    components = (
        _c("denoiser", "FLUX transformer", "FluxTransformer2DModel", transformer, repo, "transformer"),
        _c("text encoder", "CLIP-L", "CLIPTextModel", CLIP_L, repo, "text_encoder"),
        _c("text encoder", "T5-XXL", "T5EncoderModel", T5_XXL, repo, "text_encoder_2"),
        _c("vae", "VAE (16 ch)", "AutoencoderKL", VAE_16CH_FLUX, repo, "vae"),
    )
    return Architecture(key, name, 2024, "MMDiT + single-stream (FLUX)", components, objective, objective_source,
                        steps, steps_source, {"CLIP-L": CLIP_L["max_position_embeddings"], "T5-XXL": t5_tokens})


MODELS: dict[str, Architecture] = {a.key: a for a in (
    _sd_unet("sd15", "SD 1.5", 2022, SD15_REPO, SD15_UNET, (("CLIP-L", "CLIPTextModel", CLIP_L, "text_encoder"),),
             "epsilon", "StableDiffusionPipeline"),
    _sd_unet("sd21", "SD 2.1", 2022, SD21_REPO, SD21_UNET,
             (("OpenCLIP-H", "CLIPTextModel", OPENCLIP_H, "text_encoder"),), "v_prediction", "StableDiffusionPipeline"),
    _sd_unet("sdxl", "SDXL", 2023, SDXL_REPO, SDXL_UNET,
             (("CLIP-L", "CLIPTextModel", CLIP_L, "text_encoder"),
              ("CLIP-G", "CLIPTextModelWithProjection", CLIP_G, "text_encoder_2")),
             "epsilon", "StableDiffusionXLPipeline"),
    Architecture(
        "sd3", "SD3 Medium", 2024, "MMDiT (joint attention)",
        (
            _c("denoiser", "MMDiT", "SD3Transformer2DModel", SD3_TRANSFORMER, SD3_REPO, "transformer"),
            _c("text encoder", "CLIP-L", "CLIPTextModelWithProjection", CLIP_L, SD3_REPO, "text_encoder"),
            _c("text encoder", "CLIP-G", "CLIPTextModelWithProjection", CLIP_G, SD3_REPO, "text_encoder_2"),
            _c("text encoder", "T5-XXL", "T5EncoderModel", T5_XXL, SD3_REPO, "text_encoder_3"),
            _c("vae", "VAE (16 ch)", "AutoencoderKL", VAE_16CH_SD3, SD3_REPO, "vae"),
        ),
        "rectified flow",
        f"{SD3_REPO}/scheduler/scheduler_config.json (FlowMatchEulerDiscreteScheduler, shift {_SD3.scheduler_shift})",
        _SD3.steps, "diffusers StableDiffusion3Pipeline default num_inference_steps",
        {"CLIP": CLIP_L["max_position_embeddings"], "T5-XXL": _SD3.max_sequence_length},
    ),
    _flux("flux_schnell", "FLUX.1-schnell", SCHNELL_REPO, FLUX_SCHNELL_TRANSFORMER,
          "rectified flow, timestep-distilled", f"{SCHNELL_REPO} model card (latent adversarial diffusion distillation)",
          _SCHNELL.steps, f"{SCHNELL_REPO} model card (num_inference_steps={_SCHNELL.steps})",
          _SCHNELL.max_sequence_length),
    _flux("flux_dev", "FLUX.1-dev", DEV_REPO, FLUX_DEV_TRANSFORMER,
          "rectified flow, guidance-distilled", f"{DEV_REPO} model card (guidance distillation)",
          50, f"{DEV_REPO} model card (num_inference_steps=50)", 512),
)}
