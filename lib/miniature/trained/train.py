"""`python -m lib train-miniatures`: train the miniatures on the shapes world, save them, measure their adherence.

Stages, each skipped when its result exists (so an interrupted run resumes; inside a stage, the training loop
resumes from its last checkpoint): tokenizers -> autoencoder -> SD3-mini -> adherence. Intermediate state lives
in --work (default ~/.cache/dme/train-miniatures); the snapshots and training.json go to --out (default
precomputed/trained-miniatures), each written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from lib.miniature.trained import TRAINED_DIR

STAGES = ("vae", "sd3")


@dataclass(frozen=True)
class Plan:
    """How much to train: the book's settings, or `quick` ones that only prove the command works (tests)."""

    n_images: int = 30_000
    vae_steps: int = 1500
    sd3_steps: int = 1800
    eval_prompts: int = 200
    full_study: bool = True  # every condition of lib.miniature.trained.study, else two

    @classmethod
    def quick(cls) -> "Plan":
        return cls(n_images=256, vae_steps=3, sd3_steps=3, eval_prompts=4, full_study=False)


def default_work_dir() -> Path:
    return Path(os.environ.get("DME_TRAIN_WORK", Path.home() / ".cache" / "dme" / "train-miniatures"))


def _atomic_dir(final: Path, write) -> Path:
    """write(tmp_folder), then rename it to `final` (replacing an older one)."""
    tmp, old = final.parent / f".{final.name}.tmp", final.parent / f".{final.name}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)  # a run killed between the two renames below
    final.parent.mkdir(parents=True, exist_ok=True)
    write(tmp)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def vae_key(plan: Plan) -> dict:
    """Everything that shapes the trained autoencoder: a stored one with another key is trained again."""
    from lib.miniature.trained import vae as V

    return dict(n_images=plan.n_images, steps=plan.vae_steps, batch=V.BATCH, lr=V.LR, kl=V.KL_WEIGHT,
                config={k: list(v) if isinstance(v, tuple) else v for k, v in V.VAE_CONFIG.items()})


def sd3_key(plan: Plan, vae) -> dict:
    """Everything that shapes the trained SD3-mini, the autoencoder's latent scaling included."""
    from lib.miniature.build import SD3_SCHEDULER
    from lib.miniature.trained import sd3, text

    return dict(n_images=plan.n_images, steps=plan.sd3_steps, batch=sd3.BATCH, lr=sd3.LR, p_drop_t5=sd3.P_DROP_T5,
                p_uncond=sd3.P_UNCOND, shift=SD3_SCHEDULER["shift"], clip=text.CLIP_CONTEXT, t5=text.T5_CONTEXT,
                config=sd3.transformer_config(), vae_norm=[vae.config.shift_factor, vae.config.scaling_factor])


def _world(plan: Plan):
    from lib.shapes import batch

    images, captions, _ = batch(range(plan.n_images), "train")
    return images, captions


def _vae(plan: Plan, images, work: Path, log: dict):
    from diffusers import AutoencoderKL

    from lib.miniature.trained import vae as V

    final = work / "vae" / "vae.pt"
    key = vae_key(plan)
    state = torch.load(final, weights_only=False) if final.is_file() else None
    if state is not None and state.get("key") == key:
        print(f"autoencoder: trained before ({state['seconds']:.0f} s), loaded from {final}", file=sys.stderr)
    else:
        if state is not None:
            print("autoencoder: the stored one was trained with other settings; training again", file=sys.stderr)
            shutil.rmtree(work / "vae")
        fit = V.train_vae(images, work / "vae", steps=plan.vae_steps, key=key)
        state = dict(weights=fit.ema.state_dict(), seconds=fit.seconds, losses=fit.losses, key=key)
        torch.save(state, final.with_suffix(".tmp"))
        os.replace(final.with_suffix(".tmp"), final)
    vae = AutoencoderKL(**V.VAE_CONFIG)
    vae.load_state_dict(state["weights"])
    vae.eval().requires_grad_(False)
    raw = V.encode(vae, images)
    norm = V.normalisation(raw)
    vae.register_to_config(**norm)
    log["vae"] = dict(seconds=round(state["seconds"], 1), steps=key["steps"], final_loss=round(state["losses"][-1], 5),
                      parameters=sum(p.numel() for p in vae.parameters()), **norm)
    return vae, (raw - norm["shift_factor"]) * norm["scaling_factor"]


def _sd3(plan: Plan, latents, captions, enc, vae, work: Path, out: Path, log: dict) -> Path:
    from lib.miniature.build import SD3_SCHEDULER
    from lib.miniature.trained import sd3, snapshot

    from lib.miniature.trained import weights_digest

    target = out / "sd3"
    done = work / "sd3" / "done.json"
    key = sd3_key(plan, vae)
    info = json.loads(done.read_text()) if done.is_file() else None
    if info is not None and info.get("key") == key and (target / "model_index.json").is_file() \
            and info.get("snapshot") == weights_digest(target):
        log["sd3"] = info
        print(f"SD3-mini: trained before ({info['seconds']:.0f} s), in {target}", file=sys.stderr)
        return target
    if info is not None and info.get("key") != key:
        print("SD3-mini: the stored training used other settings; training again", file=sys.stderr)
        shutil.rmtree(work / "sd3")
    unique = sorted(set(captions))
    index = {c: i for i, c in enumerate(unique)}
    embeds, pooled = sd3.encode_captions(enc, unique + [""])
    caption_index = torch.tensor([index[c] for c in captions])
    fit = sd3.train_sd3(latents, caption_index, embeds[:-1], pooled[:-1], (embeds[-1], pooled[-1]), work / "sd3",
                        shift=SD3_SCHEDULER["shift"], steps=plan.sd3_steps, key=key)
    _atomic_dir(target, lambda tmp: snapshot.save_sd3(tmp, fit.ema, vae, enc))
    info = dict(seconds=round(fit.seconds, 1), steps=plan.sd3_steps, batch=sd3.BATCH,
                final_loss=round(fit.losses[-1], 5), parameters=sum(p.numel() for p in fit.ema.parameters()),
                p_drop_t5=sd3.P_DROP_T5, p_uncond=sd3.P_UNCOND, key=key, snapshot=weights_digest(target))
    _atomic_json(done, info)
    log["sd3"] = info
    return target


def _adherence(plan: Plan, sd3_dir: Path, out: Path, log: dict) -> None:
    from lib.miniature.trained import study, weights_digest

    target = out / "adherence.json"
    digest = weights_digest(sd3_dir)
    if target.is_file():
        stored = json.loads(target.read_text())
        if stored.get("weights") == digest and stored.get("n") == plan.eval_prompts and (
                len(stored["rows"]) == len(study.conditions()) or not plan.full_study):
            print(f"adherence: measured before on these weights, in {target}", file=sys.stderr)
            log["adherence"] = stored
            return

    def progress(cond, row):
        print(f"adherence: {cond.name}: all attributes right {row['scores']['all'][0]:.0%}", file=sys.stderr)

    started = time.perf_counter()
    conds = None if plan.full_study else [study.Condition("single"), study.Condition("relation", t5=False)]
    rows = study.run(sd3_dir, plan.eval_prompts, conds, progress=progress)
    data = dict(weights=digest, n=plan.eval_prompts, rows=rows, seconds=round(time.perf_counter() - started, 1),
                **_provenance())
    _atomic_json(target, data)
    log["adherence"] = data


def _provenance() -> dict:
    import diffusers
    import transformers

    from lib.machine import device_info

    return dict(machine=device_info(torch.device("cpu")), cpu_threads=torch.get_num_threads(),
                versions=dict(torch=torch.__version__, diffusers=diffusers.__version__,
                              transformers=transformers.__version__),
                made=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def train_miniatures(out: Path = TRAINED_DIR, work: Path | None = None, plan: Plan = Plan()) -> dict:
    """Run every stage (resuming), write out/training.json, return it."""
    work = work or default_work_dir()
    work.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    try:
        return _train(out, work, plan)
    finally:
        torch.set_num_threads(threads)


def _train(out: Path, work: Path, plan: Plan) -> dict:
    from lib.miniature.trained import text

    started = time.perf_counter()
    log: dict = {}
    tokenizers = work / "tokenizers"
    if not (tokenizers / "t5").is_dir():
        _atomic_dir(tokenizers, text.write_tokenizers)
    enc = text.build_encoders(tokenizers)
    images, captions = _world(plan)
    vae, latents = _vae(plan, images, work, log)
    sd3_dir = _sd3(plan, latents, captions, enc, vae, work, out, log)
    _adherence(plan, sd3_dir, out, log)
    training = {k: v for k, v in log.items() if k != "adherence"}
    training.update(plan=plan.__dict__, **_provenance(), wall_seconds_this_run=round(time.perf_counter() - started, 1))
    _atomic_json(out / "training.json", training)
    return log


def summary(log: dict) -> str:
    lines = [f"{name}: {log[name]['seconds']:.0f} s training, final loss {log[name]['final_loss']:.4f}"
             for name in STAGES if name in log]
    from lib.miniature.trained.study import Condition

    for row in log.get("adherence", {}).get("rows", []):
        cond = Condition(row["kind"], row["split"], row["steps"], row["guidance"], row["t5"])
        lines.append(f"{cond.name}: " + ", ".join(f"{k} {v[0]:.0%} [{v[1]:.0%}, {v[2]:.0%}]"
                                                  for k, v in row["scores"].items()) + f" (n = {row['n']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lib train-miniatures", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=TRAINED_DIR, help="where the snapshots go (default: %(default)s)")
    p.add_argument("--work", type=Path, default=None,
                   help="resumable training state ($DME_TRAIN_WORK, else ~/.cache/dme/train-miniatures)")
    p.add_argument("--quick", action="store_true", help="a few steps on a few images: checks the command, "
                   "trains nothing useful; writes into a temporary folder unless --out/--work are given")
    a = p.parse_args(argv)
    out, work = a.out, a.work
    if a.quick:  # never over the committed weights, nor into the state a full run resumes from
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix="dme-train-quick-"))
        out = scratch / "out" if out == TRAINED_DIR else out
        work = work or scratch / "work"
        print(f"--quick: writing into {out} (work: {work})", file=sys.stderr)
    log = train_miniatures(out, work, Plan.quick() if a.quick else Plan())
    print(summary(log))
    return 0
