"""The two autoencoders of `train-miniatures` (SD3-mini's, which UNet-mini shares, and FLUX-mini's): kept from a
stored snapshot (the default) or trained anew (`--train-autoencoders`).

Latent diffusion trains its autoencoder once and freezes it under the diffusion model (Rombach et al. 2022,
sec. 3), and SD3 and FLUX.1 ship theirs as fixed components that their denoisers are trained on (Esser et al. 2024,
sec. 5.2.1). The miniatures do the same by default, for a measured reason: training the autoencoder again does not
reproduce (whether it learns the dotted background is a draw, and SD3-mini's relations depend on which one it got;
see the README), while a denoiser trained again on a fixed autoencoder does. A kept autoencoder is written back
byte for byte into each snapshot that holds it, so its digest (part of UNet-mini's key) does not move.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from lib.miniature.trained.train import Plan


@dataclass
class Autoencoder:
    """An autoencoder ready for its denoisers: the model, the normalised latents of the training images, and, for a
    kept one, its stored files (name -> bytes) to write back into a new snapshot."""

    vae: torch.nn.Module
    latents: torch.Tensor
    files: dict[str, bytes] | None = None

    def restore(self, folder: Path) -> Path:
        """After a snapshot was saved: a kept autoencoder's folder holds its stored files again, exactly (the
        snapshot's save writes the running diffusers version into config.json, and no two versions may differ)."""
        if self.files is not None:
            for f in Path(folder).iterdir():
                if f.name not in self.files:
                    f.unlink()
            for name, data in self.files.items():
                (Path(folder) / name).write_bytes(data)
        return folder


def names(flux: bool) -> tuple[str, str]:
    """The autoencoder's entry in training.json and its label in the progress messages."""
    return ("flux_vae", "FLUX autoencoder") if flux else ("vae", "autoencoder")


def key(plan: Plan, flux: bool = False) -> dict:
    """Everything that shapes a trained autoencoder (SD3's, or FLUX's when `flux`): another key trains again."""
    from lib.miniature.trained import vae as V

    return dict(n_images=plan.n_images, steps=plan.flux_vae_steps if flux else plan.vae_steps, batch=V.BATCH,
                lr=V.LR, kl=V.KL_WEIGHT, config=_config(flux))


def _config(flux: bool) -> dict:
    from lib.miniature.trained import vae as V

    config = V.FLUX_VAE_CONFIG if flux else V.VAE_CONFIG
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def stored(out: Path, flux: bool = False) -> Path:
    """The autoencoder a run keeps: the one in --out's snapshot, else the committed one."""
    from lib.errors import WeightsError
    from lib.miniature.trained import TRAINED_DIR

    family = "flux" if flux else "sd3"
    for root in dict.fromkeys((Path(out), TRAINED_DIR)):
        if (root / family / "vae" / "config.json").is_file():
            return root / family / "vae"
    raise WeightsError(f"no stored {family.upper()} autoencoder to keep, in {Path(out) / family / 'vae'} or "
                       f"{TRAINED_DIR / family / 'vae'}: pass --train-autoencoders to train one")


def prepare(plan: Plan, images, work: Path, out: Path, log: dict, flux: bool = False) -> Autoencoder:
    """SD3's autoencoder (FLUX's when `flux`), trained (plan.train_autoencoders) or kept, and the normalised latents
    of `images`; its training.json entry, with its round trip (roundtrip.summary), into log."""
    from lib.miniature.trained import roundtrip

    made = _trained(plan, images, work, log, flux) if plan.train_autoencoders else _kept(images, out, log, flux)
    log[names(flux)[0]]["round_trip"] = roundtrip.summary(made.vae, max(1, plan.eval_prompts // 4))
    return made


def _kept(images, out: Path, log: dict, flux: bool) -> Autoencoder:
    """The stored autoencoder, with the latent normalisation it was saved with (the one its denoisers learned);
    its log entry is the one stored beside it (how it was trained), marked kept."""
    from lib.errors import WeightsError
    from lib.miniature.trained import weights_digest

    name, label = names(flux)
    folder = stored(out, flux)
    files = {f.name: f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file()}
    config = {k: v for k, v in json.loads(files["config.json"]).items() if not k.startswith("_")}
    differ = {k: (config.get(k), v) for k, v in _config(flux).items() if config.get(k) != v}
    if differ:
        raise WeightsError(f"the {label} in {folder} was built with other settings than lib.miniature.trained.vae's "
                           f"(stored, configured: {differ}): pass --train-autoencoders to train one with them")
    vae = load(folder)
    print(f"{label}: kept, from {folder}", file=sys.stderr)
    record = folder.parent.parent / "training.json"
    before = json.loads(record.read_text()).get(name, {}) if record.is_file() else {}
    norm = dict(shift_factor=config["shift_factor"], scaling_factor=config["scaling_factor"])
    log[name] = dict({k: v for k, v in before.items() if k not in ("round_trip", "kept", "weights")}, **norm,
                     kept=True, weights=weights_digest(folder), parameters=sum(p.numel() for p in vae.parameters()))
    return Autoencoder(vae, latents(vae, images), files)


def load(folder: Path):
    """A stored autoencoder in float32 (as the denoisers' latents are computed), built from its config and weights
    rather than from_pretrained, which would write the folder's path into any snapshot it is saved into."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    config = {k: v for k, v in AutoencoderKL.load_config(folder).items() if not k.startswith("_")}
    vae = AutoencoderKL.from_config(config)
    vae.load_state_dict({k: v.float() for k, v in load_file(folder / "diffusion_pytorch_model.safetensors").items()})
    return vae.eval().requires_grad_(False)


def latents(vae, images) -> torch.Tensor:
    """The latents of `images` normalised as the autoencoder's config says (SD3's shift_factor and scaling_factor)."""
    from lib.miniature.trained import vae as V

    with torch.no_grad():
        return (V.encode(vae, images) - vae.config.shift_factor) * vae.config.scaling_factor


def _trained(plan: Plan, images, work: Path, log: dict, flux: bool) -> Autoencoder:
    """An autoencoder trained on `images` (resumed from work/<name>/vae.pt when trained before with this key), its
    latents normalised to zero mean and unit variance."""
    from diffusers import AutoencoderKL

    from lib.miniature.trained import vae as V
    from lib.miniature.trained.loop import where

    name, label = names(flux)
    final = work / name / "vae.pt"
    k = key(plan, flux)
    state = torch.load(final, weights_only=False) if final.is_file() else None
    if state is not None and state.get("key") == k:
        print(f"{label}: trained before ({state['seconds']:.0f} s), loaded from {final}", file=sys.stderr)
    else:
        if state is not None:
            print(f"{label}: the stored one was trained with other settings; training again", file=sys.stderr)
            shutil.rmtree(work / name)
        config = V.FLUX_VAE_CONFIG if flux else V.VAE_CONFIG
        fit = V.train_vae(images, work / name, steps=k["steps"], key=k, config=config, label=label)
        state = dict(weights=fit.ema.state_dict(), seconds=fit.seconds, losses=fit.losses, key=k, **where())
        torch.save(state, final.with_suffix(".tmp"))
        os.replace(final.with_suffix(".tmp"), final)
    vae = AutoencoderKL(**(V.FLUX_VAE_CONFIG if flux else V.VAE_CONFIG))
    vae.load_state_dict(state["weights"])
    vae.eval().requires_grad_(False)
    raw = V.encode(vae, images)
    norm = V.normalisation(raw)
    vae.register_to_config(**norm)
    log[name] = dict(seconds=round(state["seconds"], 1), chip=state.get("chip"), precision=state.get("precision"),
                     steps=k["steps"], final_loss=round(state["losses"][-1], 5),
                     parameters=sum(p.numel() for p in vae.parameters()), **norm)
    return Autoencoder(vae, (raw - norm["shift_factor"]) * norm["scaling_factor"])
