"""`python -m lib train-miniatures`: train the miniatures on the shapes world, save them, measure their adherence.

Stages, each skipped when its result exists (so an interrupted run resumes; inside a stage, the training loop
resumes from its last checkpoint): tokenizers -> autoencoder -> SD3-mini -> adherence; FLUX's autoencoder ->
FLUX-mini teacher -> the teacher's image pairs -> the reflow student -> FLUX adherence; UNet-mini (on SD3-mini's
stored autoencoder and encoders, with SD3-mini's budget) -> its adherence. `--models` picks among SD3, FLUX and the
UNet (default: all); a model not picked keeps its stored snapshot.

The two autoencoders are kept by default (lib.miniature.trained.autoencoder: latent diffusion trains its
autoencoder once and freezes it): each denoiser is trained on the latents of the stored autoencoder (--out's,
else the committed one), which is written unchanged into its new snapshot. Training the autoencoders again does not
reproduce (see the README), while the denoisers do on a fixed autoencoder. `--train-autoencoders` trains them
anew. Intermediate state lives in --work (default ~/.cache/dme/train-miniatures); the snapshots and training.json
go to --out (default precomputed/trained-miniatures), each written to a temporary folder and renamed into place.
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

from lib.miniature.trained import TRAINED_DIR, autoencoder
from lib.miniature.trained.loop import where
from lib.miniature.trained.reproduction import STEP_FIELDS, STUDY_STAGES

STAGES = ("vae", "sd3", "flux_vae", "flux_teacher", "flux_pairs", "flux_student", "unet")
MODELS = ("sd3", "flux", "unet")
STUDIES = tuple("adherence" if m == "sd3" else f"adherence_{m}" for m in MODELS)  # each model's study, as logged
BUDGET_MINUTES = 45  # every stage and study of the three models, on a 2-core machine (the project's budget)


@dataclass(frozen=True)
class Plan:
    """How much to train: the book's settings, or `quick` ones that only prove the command works (tests)."""

    n_images: int = 30_000
    vae_steps: int = 1500
    sd3_steps: int = 1800
    flux_vae_steps: int = 1000
    teacher_steps: int = 1500
    n_pairs: int = 2048
    student_steps: int = 800
    eval_prompts: int = 200
    full_study: bool = True  # every condition of lib.miniature.trained.study, else two
    models: tuple[str, ...] = MODELS
    train_autoencoders: bool = False  # else the stored autoencoders are kept (see the module's docstring)

    @classmethod
    def quick(cls, models: tuple[str, ...] = MODELS, train_autoencoders: bool = False) -> "Plan":
        return cls(n_images=256, vae_steps=3, sd3_steps=3, flux_vae_steps=3, teacher_steps=3, n_pairs=8,
                   student_steps=3, eval_prompts=4, full_study=False, models=models,
                   train_autoencoders=train_autoencoders)

    @classmethod
    def shorter(cls, fraction: float, models: tuple[str, ...] = MODELS) -> "Plan":
        """The book's plan with each denoiser (SD3-mini, FLUX-mini's teacher and student, UNet-mini, which trains
        SD3-mini's steps) trained for `fraction` of its steps, at least one, on the kept autoencoders: everything
        else, the study included, as the book's. What a shorter training buys is then a measurement
        (lib.miniature.trained.reproduction stores it apart from the reproductions)."""
        book = cls()
        steps = {k: max(1, round(getattr(book, k) * fraction)) for k in STEP_FIELDS}
        return cls(models=models, **steps)


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


def sd3_key(plan: Plan, vae, encoders: str) -> dict:
    """Everything that shapes the trained SD3-mini, the autoencoder's latent scaling and the frozen text encoders
    (`encoders`: their text.encoder_digest) included."""
    from lib.miniature.build import SD3_SCHEDULER
    from lib.miniature.trained import sd3, text

    return dict(n_images=plan.n_images, steps=plan.sd3_steps, batch=sd3.BATCH, lr=sd3.LR, ema=sd3.EMA_DECAY,
                p_drop_t5=sd3.P_DROP_T5, p_drop_clip=sd3.P_DROP_CLIP, p_uncond=sd3.P_UNCOND,
                shift=SD3_SCHEDULER["shift"], clip=text.CLIP_CONTEXT, t5=text.T5_CONTEXT, encoders=encoders,
                config=sd3.transformer_config(), vae_norm=[vae.config.shift_factor, vae.config.scaling_factor])


def _world(plan: Plan):
    from lib.shapes import batch

    images, captions, _ = batch(range(plan.n_images), "train")
    return images, captions


def _sd3(plan: Plan, ae, captions, enc, work: Path, out: Path, log: dict) -> Path:
    """SD3-mini on the latents of `ae` (an autoencoder.Autoencoder); the snapshot, `ae` in it, in out/sd3."""
    from lib.miniature.trained import snapshot, text

    target = out / "sd3"
    key = sd3_key(plan, ae.vae, text.encoder_digest(enc))
    log["sd3"] = _fit_sd3_recipe("sd3", "SD3-mini", plan, ae.latents, captions, enc, key, work, target,
                                 "model_index.json",
                                 lambda tmp, ema: ae.restore(snapshot.save_sd3(tmp, ema, ae.vae, enc) / "vae"))
    return target


def _unet(plan: Plan, images, captions, enc, work: Path, out: Path, log: dict) -> Path:
    """UNet-mini, trained as SD3-mini was (same steps, batch, learning rate, dropouts, shift) on the latents of
    SD3-mini's stored autoencoder (so the UNet does not depend on whether SD3-mini was trained in the same run);
    the snapshot (the UNet alone) in out/unet."""
    from lib.errors import WeightsError
    from lib.miniature.trained import text, trained_paths, unet, weights_digest

    try:
        sd3_dir = trained_paths(out, ("sd3",)).sd3
    except WeightsError as err:
        raise WeightsError(f"UNet-mini trains on SD3-mini's autoencoder and runs with its encoders, and {err}; "
                           "or pass --models sd3 unet") from None
    vae = autoencoder.load(sd3_dir / "vae")
    key = dict(sd3_key(plan, vae, text.encoder_digest(enc)), config=unet.unet_config(),
               autoencoder=weights_digest(sd3_dir / "vae"))
    latents = autoencoder.latents(vae, images)
    target = out / "unet"
    log["unet"] = _fit_sd3_recipe("unet", "UNet-mini", plan, latents, captions, enc, key, work, target,
                                  f"{unet.UNET_FOLDER}/config.json", lambda tmp, ema: unet.save_unet(tmp, ema),
                                  model=unet.new_denoiser)
    return target


def _fit_sd3_recipe(stage: str, label: str, plan: Plan, latents, captions, enc, key: dict, work: Path, target: Path,
                    marker: str, save, model=None) -> dict:
    """Train a denoiser with SD3-mini's recipe (lib.miniature.trained.sd3.train_sd3; `model()` builds it, default
    SD3-mini's MMDiT) and write its snapshot with save(tmp_folder, ema) into target, atomically; skipped when
    work/stage/done.json holds this key and target (with its `marker` file) is still the snapshot it wrote."""
    from lib.miniature.build import SD3_SCHEDULER
    from lib.miniature.trained import sd3, weights_digest

    done = work / stage / "done.json"
    key = json.loads(json.dumps(key))  # as done.json stores it (tuples become lists)
    info = json.loads(done.read_text()) if done.is_file() else None
    if info is not None and info.get("key") == key and (target / marker).is_file() \
            and info.get("snapshot") == weights_digest(target):
        print(f"{label}: trained before ({info['seconds']:.0f} s), in {target}", file=sys.stderr)
        return info
    if info is not None and info.get("key") != key:
        print(f"{label}: the stored training used other settings; training again", file=sys.stderr)
        shutil.rmtree(work / stage)
    unique = sorted(set(captions))
    index = {c: i for i, c in enumerate(unique)}
    embeds, pooled = sd3.encode_captions(enc, unique + [""])
    fit = sd3.train_sd3(latents, torch.tensor([index[c] for c in captions]), embeds[:-1], pooled[:-1],
                        (embeds[-1], pooled[-1]), work / stage, shift=SD3_SCHEDULER["shift"], steps=plan.sd3_steps,
                        key=key, model=model() if model else None, label=label)
    _atomic_dir(target, lambda tmp: save(tmp, fit.ema))
    info = dict(_fit_info(fit, steps=plan.sd3_steps, batch=sd3.BATCH, p_drop_t5=sd3.P_DROP_T5,
                          p_drop_clip=sd3.P_DROP_CLIP, p_uncond=sd3.P_UNCOND),
                key=key, snapshot=weights_digest(target))
    _atomic_json(done, info)
    return info


def teacher_key(plan: Plan, vae, encoders: str) -> dict:
    """Everything that shapes the FLUX-mini teacher, its autoencoder's latent scaling and the frozen text encoders
    (their text.encoder_digest) included."""
    from lib.miniature.trained import flux, text

    return dict(n_images=plan.n_images, steps=plan.teacher_steps, batch=flux.BATCH, lr=flux.LR,
                p_uncond=flux.P_UNCOND, clip=text.CLIP_CONTEXT, t5=text.T5_CONTEXT, encoders=encoders,
                config=flux.transformer_config(),
                scheduler=flux.DEV_SCHEDULER, vae_norm=[vae.config.shift_factor, vae.config.scaling_factor])


def student_key(plan: Plan, teacher: dict) -> dict:
    """The student's settings and its teacher's (a retrained teacher makes new pairs and a new student)."""
    from lib.miniature.trained import flux
    from lib.miniature.trained.loop import autocast_dtype

    return dict(teacher=teacher, n_pairs=plan.n_pairs, pair_steps=flux.PAIR_STEPS, pair_guidance=flux.PAIR_GUIDANCE,
                pair_dtype=str(autocast_dtype()),
                steps=plan.student_steps, lr=flux.STUDENT_LR, batch=flux.BATCH)


def _stored(path: Path, key: dict):
    """A stage's saved result if it was made with `key`, else None (a stale one is deleted)."""
    if not path.is_file():
        return None
    state = torch.load(path, weights_only=False)
    if state.get("key") == key:
        return state
    print(f"{path.parent.name}: the stored result was made with other settings; making it again", file=sys.stderr)
    shutil.rmtree(path.parent)
    return None


def _save_state(path: Path, state: dict) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)
    return state


def _fit_info(fit, **extra) -> dict:
    return dict(seconds=round(fit.seconds, 1), **where(), final_loss=round(fit.losses[-1], 5),
                parameters=sum(p.numel() for p in fit.ema.parameters()), **extra)


def _flux(plan: Plan, ae, captions, enc, work: Path, out: Path, log: dict) -> Path:
    """FLUX's autoencoder, the teacher, its image pairs, the reflow student; the snapshot in out/flux."""
    from diffusers import FluxTransformer2DModel

    from lib.miniature.trained import flux, snapshot, text, weights_digest

    vae, latents = ae.vae, ae.latents
    side = latents.shape[-1]
    packed = flux.pack(latents)
    t_key = teacher_key(plan, vae, text.encoder_digest(enc))
    s_key = json.loads(json.dumps(student_key(plan, t_key)))  # as done.json stores it (tuples become lists)
    target, done = out / "flux", work / "flux_student" / "done.json"
    info = json.loads(done.read_text()) if done.is_file() else None
    if info is not None and info.get("key") == s_key and (target / "model_index.json").is_file() \
            and info.get("snapshot") == weights_digest(target):
        log.update(info["log"])  # the stages this skip covers (the autoencoder's entry is this run's)
        print(f"FLUX-mini: trained before, in {target}", file=sys.stderr)
        return target
    if info is not None and info.get("key") != s_key:  # its checkpoint too: the loop refuses other settings' state
        print("FLUX-mini student: the stored training used other settings; training again", file=sys.stderr)
        shutil.rmtree(work / "flux_student")
    unique = sorted(set(captions))
    index = {c: i for i, c in enumerate(unique)}
    embeds, pooled = flux.encode_captions(enc, unique + [""])
    teacher = FluxTransformer2DModel(**flux.transformer_config())
    state = _stored(work / "flux_teacher" / "teacher.pt", t_key)
    if state is None:
        fit = flux.train_teacher(packed, torch.tensor([index[c] for c in captions]), embeds[:-1], pooled[:-1],
                                 (embeds[-1], pooled[-1]), side, work / "flux_teacher", steps=plan.teacher_steps,
                                 key=t_key)
        state = _save_state(work / "flux_teacher" / "teacher.pt", dict(
            weights=fit.ema.state_dict(), key=t_key, info=_fit_info(fit, steps=plan.teacher_steps, batch=flux.BATCH,
                                                                      p_uncond=flux.P_UNCOND)))
    teacher.load_state_dict(state["weights"])
    teacher.eval().requires_grad_(False)
    log["flux_teacher"] = state["info"]
    pair_captions = [captions[i] for i in range(0, len(captions), max(1, len(captions) // plan.n_pairs))][:plan.n_pairs]
    pairs = _stored(work / "flux_pairs" / "pairs.pt", s_key)
    if pairs is None:
        started = time.perf_counter()
        noises, made = flux.teacher_pairs(teacher, vae, enc, pair_captions, side)
        pairs = _save_state(work / "flux_pairs" / "pairs.pt", dict(noises=noises, images=made, key=s_key, info=dict(
            seconds=round(time.perf_counter() - started, 1), **where(), n=len(made), steps=flux.PAIR_STEPS,
            guidance=flux.PAIR_GUIDANCE)))
    log["flux_pairs"] = pairs["info"]
    cap_i = torch.tensor([index[c] for c in pair_captions])
    fit = flux.train_student(teacher, pairs["noises"], pairs["images"], embeds[cap_i], pooled[cap_i], side,
                             work / "flux_student", steps=plan.student_steps, key=s_key)
    _atomic_dir(target, lambda tmp: ae.restore(snapshot.save_flux(tmp, fit.ema, vae, enc, teacher=teacher) / "vae"))
    log["flux_student"] = _fit_info(fit, steps=plan.student_steps, batch=flux.BATCH, method="reflow")
    info = dict(key=s_key, snapshot=weights_digest(target),
                log={k: log[k] for k in ("flux_teacher", "flux_pairs", "flux_student")})
    _atomic_json(done, info)
    return target


def _adherence(plan: Plan, snapshot: Path, out: Path, log: dict, model: str = "sd3") -> None:
    """The adherence study of SD3-mini (adherence.json), of FLUX-mini's student and teacher (adherence-flux.json) or
    of UNet-mini (adherence-unet.json, beside SD3-mini's encoders), skipped when stored for these weights."""
    from lib.miniature.trained import study, weights_digest

    name = STUDIES[MODELS.index(model)]
    target = out / f"{name.replace('_', '-')}.json"
    every = dict(sd3=study.conditions, flux=study.flux_conditions, unet=study.unet_conditions)[model]()
    digest = weights_digest(snapshot)
    if model == "unet":  # the UNet's images also depend on SD3-mini's encoders and autoencoder
        digest += "+" + weights_digest(out / "sd3")
    if target.is_file():
        stored = json.loads(target.read_text())
        if stored.get("weights") == digest and stored.get("n") == plan.eval_prompts and (
                len(stored["rows"]) == len(every) or not plan.full_study):
            print(f"{name}: measured before on these weights, in {target}", file=sys.stderr)
            log[name] = stored
            return

    def progress(cond, row):
        print(f"{name}: {cond.name}: all attributes right {row['scores']['all'][0]:.0%}", file=sys.stderr)

    started = time.perf_counter()
    conds = every if plan.full_study else every[:1] + every[-1:]
    rows = study.run(snapshot, plan.eval_prompts, conds, progress=progress,
                     sd3_snapshot=out / "sd3" if model == "unet" else None)
    data = dict(weights=digest, n=plan.eval_prompts, rows=rows, seconds=round(time.perf_counter() - started, 1),
                **_provenance())
    _atomic_json(target, data)
    log[name] = data


def _provenance() -> dict:
    import diffusers
    import transformers

    from lib.machine import device_info, source_commit

    return dict(machine=device_info(torch.device("cpu")), cpu_threads=torch.get_num_threads(),
                commit=source_commit(),
                versions=dict(torch=torch.__version__, diffusers=diffusers.__version__,
                              transformers=transformers.__version__),
                made=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def train_miniatures(out: Path = TRAINED_DIR, work: Path | None = None, plan: Plan = Plan()) -> dict:
    """Run every stage (resuming), write out/training.json, return it."""
    _same_steps(out, plan)
    work = work or default_work_dir()
    work.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    try:
        return _train(out, work, plan)
    finally:
        torch.set_num_threads(threads)


# the plan's steps of each model (UNet-mini trains SD3-mini's)
MODEL_STEPS = {model: tuple(field for _, field in stages) for model, stages in STUDY_STAGES.items()}


def _same_steps(out: Path, plan: Plan) -> None:
    """ConfigError if out/training.json keeps a model this run does not train, trained with other steps: its
    entries would stand under this run's plan (a --fraction run into a full run's folder, or the reverse)."""
    from lib.errors import ConfigError

    stored = out / "training.json"
    before = {}
    if stored.exists():
        try:
            before = json.loads(stored.read_text()).get("plan", {})
            models = before.get("models", [])
            if not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
                raise TypeError("models")
        except (OSError, ValueError, AttributeError, TypeError) as err:
            raise ConfigError(f"{stored} is not the training log of a train-miniatures run ({type(err).__name__}); "
                              "train into another --out, or remove that file") from None
    kept = [m for m in before.get("models", ()) if m in MODEL_STEPS and m not in plan.models]
    differ = [f"{k} {before.get(k)} (this run {getattr(plan, k)})" for m in kept for k in MODEL_STEPS[m]
              if before.get(k) != getattr(plan, k)]
    if differ:
        raise ConfigError(f"{stored} keeps {', '.join(kept)} trained with other steps "
                          f"({'; '.join(dict.fromkeys(differ))}); train into another --out, or add those models "
                          "to --models")


def _train(out: Path, work: Path, plan: Plan) -> dict:
    from lib.miniature.trained import text

    started = time.perf_counter()
    log: dict = {}
    tokenizers = work / "tokenizers"
    if not (tokenizers / "t5").is_dir():
        _atomic_dir(tokenizers, text.write_tokenizers)
    enc = text.build_encoders(tokenizers)
    images, captions = _world(plan)
    if "sd3" in plan.models:
        sd3_dir = _sd3(plan, autoencoder.prepare(plan, images, work, out, log), captions, enc, work, out, log)
        _adherence(plan, sd3_dir, out, log)
    if "flux" in plan.models:
        flux_dir = _flux(plan, autoencoder.prepare(plan, images, work, out, log, flux=True), captions, enc, work,
                         out, log)
        _adherence(plan, flux_dir, out, log, model="flux")
    if "unet" in plan.models:
        unet_dir = _unet(plan, images, captions, enc, work, out, log)
        _adherence(plan, unet_dir, out, log, model="unet")
    stored = out / "training.json"  # a model not trained this time keeps its entries
    training = json.loads(stored.read_text()) if stored.is_file() else {}
    training.update({k: v for k, v in log.items() if not k.startswith("adherence")})
    plan_log = {k: list(v) if isinstance(v, tuple) else v for k, v in plan.__dict__.items()
                if k != "train_autoencoders"}  # each autoencoder's entry says whether it was kept
    # the models whose entries the file holds, this run's and earlier runs' (each run's settings are the same plan)
    plan_log["models"] = [m for m in MODELS if m in plan.models or m in training.get("plan", {}).get("models", ())]
    log["wall_seconds_this_run"] = round(time.perf_counter() - started, 1)
    training.update(plan=plan_log, **_provenance(), wall_seconds_this_run=log["wall_seconds_this_run"])
    _atomic_json(stored, training)
    return log


def summary(log: dict, budget: bool = True) -> str:
    lines = [f"{name}: " + _stage(log[name]) + _round_trip(log[name]) for name in STAGES if name in log]
    from lib.miniature.trained.study import Condition

    rows = [r for name in STUDIES for r in log.get(name, {}).get("rows", [])]
    from dataclasses import fields

    for row in rows:
        cond = Condition(**{f.name: row[f.name] for f in fields(Condition) if f.name in row})
        lines.append(f"{cond.name}: " + ", ".join(f"{k} {v[0]:.0%} [{v[1]:.0%}, {v[2]:.0%}]"
                                                  for k, v in row["scores"].items()) + f" (n = {row['n']})")
    if budget:  # a --quick run trains a few steps: no budget applies
        lines.append(budget_line(log))
    return "\n".join(lines)


def _stage(entry: dict) -> str:
    """A stage's seconds and final loss as the summary prints them; a kept autoencoder says so."""
    if entry.get("kept"):
        return "kept (not trained in this run" + (
            f"; its training took {entry['seconds']:.0f} s" if "seconds" in entry else "") + ")"
    return f"{entry['seconds']:.0f} s" + (f" training, final loss {entry['final_loss']:.4f}"
                                          if "final_loss" in entry else "")


def _round_trip(entry: dict) -> str:
    """An autoencoder's round trip (roundtrip.summary) as the summary prints it; "" for other stages."""
    rt = entry.get("round_trip")
    if not rt:
        return ""
    return (f"; round trip of {rt['scenes_per_category']} new scenes per category: every named attribute right in "
            f"{rt['all']:.1%}, least often {rt['weakest']} ({rt['weakest_share']:.1%})")


def budget_seconds(log: dict) -> tuple[float, float]:
    """What the budget counts in a log of stages (STAGES) and studies (STUDIES): the seconds of the stages trained
    and the studies made, and apart, those of the kept autoencoders' training (from their entries)."""
    kept = sum(log[name].get("seconds", 0) for name in STAGES if name in log and log[name].get("kept"))
    ran = sum(log[name]["seconds"] for name in STAGES if name in log and not log[name].get("kept"))
    return ran + sum(log[k]["seconds"] for k in STUDIES if k in log), kept


def budget_line(log: dict) -> str:
    """The stages' and studies' seconds (as each was measured, on the chip it names: a resumed stage keeps its first
    run's) against the budget, which holds for all three models, autoencoders included (a kept one's training, from
    its entry, is counted apart); a run that does not cover the three models gets no verdict unless it is over
    already; and this run's wall-clock time."""
    ran = [name for name in STAGES if name in log and not log[name].get("kept")]
    n_kept = sum(1 for name in STAGES if name in log and log[name].get("kept"))
    total, kept = budget_seconds(log)
    chips = sorted({(log[name].get("chip") or "unknown CPU") + (f" ({log[name]['precision']})" if log[name].get(
        "precision") else "") for name in ran})
    # the budget covers everything train-miniatures can train: a kept autoencoder's training counts as measured
    covered = [m for m, stage in zip(MODELS, ("sd3", "flux_student", "unet")) if stage in log]
    if total + kept > 60 * BUDGET_MINUTES:
        verdict = "OVER"
    elif len(covered) < len(MODELS):  # a run of some models cannot be within a budget that holds for all three
        verdict = f"not judged, this run covers {' and '.join(covered) or 'no model'}"
    else:
        verdict = "within"
    text = f"stages and studies: {total / 60:.1f} min on {', '.join(chips) or 'no stage'}"
    if kept:
        text += f", and {kept / 60:.1f} min of training for the autoencoder{'s' * (n_kept > 1)} kept"
    text += f" (budget {BUDGET_MINUTES} min for all three models: {verdict})"
    if "wall_seconds_this_run" in log:
        text += f"; this run took {log['wall_seconds_this_run'] / 60:.1f} min"
    return text


def _overlap(a: Path, b: Path) -> bool:
    """Whether one folder is the other or lies inside it (after '~' and links are resolved)."""
    a, b = a.expanduser().resolve(), b.expanduser().resolve()
    return a.is_relative_to(b) or b.is_relative_to(a)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lib train-miniatures", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=TRAINED_DIR, help="where the snapshots go (default: %(default)s)")
    p.add_argument("--work", type=Path, default=None,
                   help="resumable training state ($DME_TRAIN_WORK, else ~/.cache/dme/train-miniatures)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                   help="which miniatures to train (default: all); the others keep their stored snapshots")
    p.add_argument("--train-autoencoders", action="store_true",
                   help="train the two autoencoders anew instead of keeping the stored ones (their outcome varies "
                   "from run to run, and so do the denoisers trained on them)")
    p.add_argument("--quick", action="store_true", help="a few steps on a few images: checks the command, "
                   "trains nothing useful; writes into a temporary folder unless --out/--work are given")
    p.add_argument("--fraction", type=float, default=1.0, metavar="F",
                   help="train each denoiser for this fraction of the book's steps (0 < F < 1; the autoencoders "
                   "are kept, the study is the book's): what a shorter training costs in adherence. Needs --out "
                   "and --work, as its weights are not the book's")
    a = p.parse_args(argv)
    out, work = a.out.expanduser(), a.work.expanduser() if a.work else None  # a quoted '~' as the shell's
    if not 0 < a.fraction <= 1:  # NaN fails this too
        p.error(f"--fraction {a.fraction:g}: give a share of the book's steps, above 0 and at most 1")
    if a.fraction < 1:
        book, short = Plan(), Plan.shorter(a.fraction)
        if any(getattr(short, k) == getattr(book, k) for k in STEP_FIELDS):
            p.error(f"--fraction {a.fraction:g} leaves a denoiser with the book's steps; give a smaller fraction "
                    "(or none, for the book's plan)")
        if a.quick or a.train_autoencoders:
            p.error("--fraction trains the book's plan for fewer steps on the kept autoencoders; drop "
                    + ("--quick" if a.quick else "--train-autoencoders"))
        kept_apart = (TRAINED_DIR, default_work_dir())
        if work is None or _overlap(out, work) or any(_overlap(f, k) for f in (out, work) for k in kept_apart):
            p.error("--fraction makes weights that are not the book's: give --out FOLDER and --work FOLDER apart "
                    "from the committed snapshots and from the state a full run resumes from")
    if a.quick:  # never over the committed weights, nor into the state a full run resumes from
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix="dme-train-quick-"))
        out = scratch / "out" if out == TRAINED_DIR else out
        work = work or scratch / "work"
        print(f"--quick: writing into {out} (work: {work})", file=sys.stderr)
    models = tuple(m for m in MODELS if m in a.models)
    if a.train_autoencoders and not {"sd3", "flux"} & set(models):
        print("--train-autoencoders: UNet-mini trains on SD3-mini's stored autoencoder; train it with --models sd3",
              file=sys.stderr)
    if a.quick and out != a.out.expanduser() and "unet" in models and "sd3" not in models:
        # a scratch folder has no SD3-mini for the UNet to run with: the quick check trains one first
        print("--quick: UNet-mini runs with SD3-mini's encoders and autoencoder; training a quick SD3-mini first",
              file=sys.stderr)
        models = tuple(m for m in MODELS if m in models or m == "sd3")
    if a.quick:
        plan = Plan.quick(models, a.train_autoencoders)
    elif a.fraction < 1:
        plan = Plan.shorter(a.fraction, models)
    else:
        plan = Plan(models=models, train_autoencoders=a.train_autoencoders)
    log = train_miniatures(out, work, plan)
    print(summary(log, budget=not a.quick))
    return 0
