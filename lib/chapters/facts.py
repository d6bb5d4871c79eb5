"""The numbers chapters 4 and 5 print in their prose, each computed from a record or from the library's facts.

Each function returns {glue key: text}; the chapter glues them all and writes `{glue:text}` where they go.
Comparisons are worded from the numbers ("faster"/"slower"), so the sentence says what the record says.
"""

from __future__ import annotations

from typing import Any

from lib.chapters import provenance
from lib.chapters.session import ChapterSession, item
from lib.chapters.theory import SD3_MEDIUM_SHIFT, forward_passes, shifted_sigmas, text_encoders_gb
from lib.chapters.views import per_step_seconds, stages
from lib.config import PRESETS
from lib.mac_memory import REFERENCE_MAC_GB, parameters
from lib.records import Record

MIB = 2**20


def _s(x: float) -> str:
    return f"{x:.3g}"


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _ratio_words(a: float, b: float, more: str, less: str) -> tuple[str, str]:
    """('1.8', 'faster') style: how a compares with b."""
    if b == 0 or a == 0:
        return "n/a", "as fast as"
    return (f"{a / b:.2g}", more) if a >= b else (f"{b / a:.2g}", less)


def _stage_mean(record: Record, stage: str, key: str = "seconds") -> float:
    return _mean([stages(it)[stage][key] for it in record.items])


def kind_facts(session: ChapterSession, prefix: str) -> dict[str, str]:
    """What made each record the chapter shows, for its captions: {prefix}-kind-<record name> (the chapter's
    provenance note gives the machine, versions and date of each)."""
    return {f"{prefix}-kind-{r.name}": provenance.kind(r) for r in session.records()}


def seed_facts(session: ChapterSession, prefix: str) -> dict[str, str]:
    """The seed(s) of each record the chapter shows, {prefix}-seed-<record name>, so captions name the seed used."""
    return {f"{prefix}-seed-{r.name}": ", ".join(str(s) for s in sorted({it["seed"] for it in r.items}))
            for r in session.records()}


def guidance_note(record: Record) -> str:
    """What a guidance sweep's images can show, worded from the record's source (chapter 4's caption)."""
    if record.source == "trained-miniature":
        return ("Made by the trained miniature (toy scale, shapes world): follow the objects' colours, shapes "
                "and places as the scale grows. One image per scale shows little; how often each scale gets the "
                "prompt right, over hundreds of images, is measured in the section on adherence below.")
    if provenance.is_miniature(record):
        return ("These images come from random-weight models: they cannot show what guidance does to a real "
                "image (how closely it follows the prompt, how saturated it gets). They show only that the "
                "output changes with the scale, and the times show what the unconditional pass costs.")
    return ("Made with the real weights: compare how closely each image follows the prompt as the scale "
            "grows; the times show what the unconditional pass costs.")


def ch4_facts(session: ChapterSession) -> dict[str, str]:
    """Chapter 4: SD3's encoders, the shift, and what its records measured."""
    enc = text_encoders_gb()
    t5, drop = session.record("sd3-prompts-t5"), session.record("sd3-prompts-drop-t5")
    staged, guidance, steps = (session.record(n) for n in ("sd3-staged-vs-unstaged", "sd3-guidance-sweep",
                                                            "sd3-step-sweep"))
    sd3 = PRESETS["sd3-medium"]
    mid = sd3.steps // 2
    s3, s1 = shifted_sigmas(sd3.steps, SD3_MEDIUM_SHIFT), shifted_sigmas(sd3.steps, 1.0)
    te_t5, te_drop = _stage_mean(t5, "text_encoding"), _stage_mean(drop, "text_encoding")
    w_t5, w_drop = _stage_mean(t5, "text_encoding", "weights_bytes"), _stage_mean(drop, "text_encoding", "weights_bytes")
    st, un = item(staged, "staged"), item(staged, "unstaged")
    den_st, den_un = stages(st)["denoising"], stages(un)["denoising"]
    g = {it["config"]["guidance"]: it for it in guidance.items}
    g_lo, g_hi = min(g), max(g)
    ratio, word = _ratio_words(stages(g[g_hi])["denoising"]["seconds"], stages(g[g_lo])["denoising"]["seconds"],
                               "slower", "faster")
    per_step = per_step_seconds(steps)
    from lib.architectures.specs import SD3_TRANSFORMER

    facts = {
        "ch4-layers": str(SD3_TRANSFORMER["num_layers"]), "ch4-heads": str(SD3_TRANSFORMER["num_attention_heads"]),
        "ch4-width": str(SD3_TRANSFORMER["num_attention_heads"] * SD3_TRANSFORMER["attention_head_dim"]),
        "ch4-params-b": f"{parameters()['sd3_transformer'] / 1e9:.2f}",
        "ch4-steps": str(sd3.steps), "ch4-guidance": f"{sd3.guidance:g}",
        "ch4-passes": str(forward_passes("sd3-medium")),
        "ch4-clip-l-gb": f"{enc['CLIP-L']:.2f}", "ch4-clip-g-gb": f"{enc['CLIP-G']:.2f}",
        "ch4-t5-gb": f"{enc['T5-XXL']:.2f}",
        "ch4-t5-share": f"{100 * enc['T5-XXL'] / sum(enc.values()):.0f}", "ch4-n-encoders": str(len(enc)),
        "ch4-n-prompts": str(len(t5.items)),
        "ch4-shift": f"{SD3_MEDIUM_SHIFT:g}", "ch4-sigma-mid-3": f"{s3[mid]:.2f}", "ch4-sigma-mid-1": f"{s1[mid]:.2f}", "ch4-mid-step": str(mid + 1),
        "ch4-te-t5": _s(te_t5), "ch4-te-drop": _s(te_drop),
        "ch4-te-w-t5": f"{w_t5 / MIB:.2f}", "ch4-te-w-drop": f"{w_drop / MIB:.2f}",
        "ch4-total-t5": _s(_mean([it["seconds"] for it in t5.items])),
        "ch4-total-drop": _s(_mean([it["seconds"] for it in drop.items])),
        "ch4-den-w-staged": f"{den_st['weights_bytes'] / MIB:.2f}",
        "ch4-den-w-unstaged": f"{den_un['weights_bytes'] / MIB:.2f}",
        "ch4-den-peak-staged": f"{den_st['peak_bytes'] / MIB:.0f}",
        "ch4-den-peak-unstaged": f"{den_un['peak_bytes'] / MIB:.0f}",
        "ch4-g-lo": f"{g_lo:g}", "ch4-g-hi": f"{g_hi:g}",
        "ch4-g-lo-passes": str(forward_passes("sd3-medium", guidance=g_lo)),
        "ch4-g-ratio": ratio, "ch4-g-word": word,
        "ch4-step-min": str(min(it["config"]["steps"] for it in steps.items)),
        "ch4-step-max": str(max(it["config"]["steps"] for it in steps.items)),
        "ch4-per-step-lo": _s(min(per_step)), "ch4-per-step-hi": _s(max(per_step)),
    }
    facts["ch4-guidance-note"] = guidance_note(guidance)
    facts.update(kind_facts(session, "ch4"))
    facts.update(seed_facts(session, "ch4"))
    return facts


def ch5_facts(session: ChapterSession) -> dict[str, str]:
    """Chapter 5: FLUX's forward passes, GGUF block layouts, and what its records measured."""
    from lib.chapters.blocks import example, layouts
    from lib.quant_study import STUDY_TYPES

    prompts, sweep, staged = (session.record(n) for n in ("flux-prompts", "flux-step-sweep", "flux-staged-vs-unstaged"))
    flux, sd3 = PRESETS["flux-schnell"], PRESETS["sd3-medium"]
    blocks = layouts(STUDY_TYPES)
    q40, q4k = example("Q4_0"), example("Q4_K")
    by_steps = {it["config"]["steps"]: it for it in sweep.items}
    lo, hi = min(by_steps), max(by_steps)
    time_ratio = by_steps[hi]["seconds"] / by_steps[lo]["seconds"]
    vs = "below" if time_ratio < hi / lo else "above" if time_ratio > hi / lo else "equal to"
    st, un = item(staged, "staged"), item(staged, "unstaged")
    facts = {
        "ch5-steps": str(flux.steps), "ch5-guidance": f"{flux.guidance:g}", "ch5-passes": str(forward_passes("flux-schnell")),
        "ch5-sd3-passes": str(forward_passes("sd3-medium")), "ch5-sd3-steps": str(sd3.steps),
        "ch5-pass-ratio": f"{forward_passes('sd3-medium') / forward_passes('flux-schnell'):.0f}",
        "ch5-quant": flux.default_quantization,
        "ch5-params-b": f"{parameters()['flux_schnell_transformer'] / 1e9:.1f}",
        "ch5-bf16-gb": f"{parameters()['flux_schnell_transformer'] * 2 / 1e9:.1f}",
        "ch5-mac-gb": str(REFERENCE_MAC_GB),
        "ch5-vs-mac": "more than" if parameters()["flux_schnell_transformer"] * 2 / 1e9 > REFERENCE_MAC_GB else "less than",
        "ch5-n-prompts": str(len(prompts.items)),
        "ch5-q80-n": str(blocks.loc["Q8_0", "weights per block"]), "ch5-q40-n": str(blocks.loc["Q4_0", "weights per block"]),
        "ch5-q4k-n": str(blocks.loc["Q4_K", "weights per block"]),
        "ch5-q80-bytes": str(blocks.loc["Q8_0", "bytes per block"]),
        "ch5-q80-bpw": str(blocks.loc['Q8_0', 'bits per weight']),
        "ch5-q40-bytes": str(blocks.loc["Q4_0", "bytes per block"]),
        "ch5-q40-bpw": str(blocks.loc['Q4_0', 'bits per weight']),
        "ch5-q4k-bytes": str(blocks.loc["Q4_K", "bytes per block"]),
        "ch5-q4k-bpw": str(blocks.loc['Q4_K', 'bits per weight']),
        "ch5-q6k-bpw": str(blocks.loc['Q6_K', 'bits per weight']),
        "ch5-ex-q40-rms": f"{q40['rel rms']:.3f}", "ch5-ex-q4k-rms": f"{q4k['rel rms']:.3f}",
        "ch5-ex-q40-bytes": str(q40["bytes"]), "ch5-ex-fp32-bytes": str(q40["fp32 bytes"]),
        "ch5-step-lo": str(lo), "ch5-step-hi": str(hi), "ch5-step-ratio": f"{time_ratio:.2g}", "ch5-step-vs": vs,
        "ch5-step-count-ratio": f"{hi / lo:g}",
        "ch5-per-step": _s(_mean(per_step_seconds(sweep))),
        "ch5-mean-total": _s(_mean([it["seconds"] for it in prompts.items])),
        "ch5-mean-denoise": _s(_stage_mean(prompts, "denoising")),
        "ch5-den-w-staged": f"{stages(st)['denoising']['weights_bytes'] / MIB:.2f}",
        "ch5-den-w-unstaged": f"{stages(un)['denoising']['weights_bytes'] / MIB:.2f}",
    }
    facts.update(kind_facts(session, "ch5"))
    facts.update(seed_facts(session, "ch5"))
    return facts


def study_facts(df) -> dict[str, str]:
    """Chapter 5's quantization study (a DataFrame from lib.quant_study.run_study) in words and numbers."""
    mad = df["pixel_mad"]
    ordered = all(a <= b for a, b in zip(mad, mad[1:]))  # the study lists types from most to fewest bits
    return {
        "ch5-study-q4k-gb": f"{df.loc['Q4_K', 'full_file_gb']:.2f}",
        "ch5-study-f16-gb": f"{df.loc['F16', 'full_file_gb']:.2f}",
        "ch5-study-q80-gb": f"{df.loc['Q8_0', 'full_file_gb']:.2f}",
        "ch5-study-q4k-rms": f"{df.loc['Q4_K', 'weight_rel_rms']:.3f}",
        "ch5-study-q40-rms": f"{df.loc['Q4_0', 'weight_rel_rms']:.3f}",
        "ch5-study-q80-rms": f"{df.loc['Q8_0', 'weight_rel_rms']:.4f}",
        "ch5-study-q4k-mad": f"{df.loc['Q4_K', 'pixel_mad']:.3g}",
        "ch5-study-q40-mad": f"{df.loc['Q4_0', 'pixel_mad']:.3g}",
        "ch5-study-f16-mad": f"{df.loc['F16', 'pixel_mad']:.3g}",
        "ch5-study-kq-word": "lower" if df.loc["Q4_K", "weight_rel_rms"] < df.loc["Q4_0", "weight_rel_rms"] else "not lower",
        "ch5-study-order": "grows at every step down in bits" if ordered else "does not grow at every step down in bits",
    }


def gguf_facts() -> dict[str, str]:
    """Chapter 5's K-quant section: super- and sub-block sizes, the registry's published FLUX.1-schnell files,
    and the public Mac timing it cites."""
    from lib.chapters.blocks import QK_K, sub_blocks
    from lib.chapters.public import COMFYUI_GGUF_236, slower_factor
    from lib.registry import model_spec

    files = model_spec("flux-schnell").published_gguf
    n4, size4, bits4 = sub_blocks("Q4_K")
    n6, size6, bits6 = sub_blocks("Q6_K")
    mac = COMFYUI_GGUF_236.seconds_per_step
    return {
        "ch5-qk": str(QK_K), "ch5-q4k-subs": str(n4), "ch5-q4k-sub": str(size4), "ch5-q4k-scale-bits": str(bits4),
        "ch5-q6k-subs": str(n6), "ch5-q6k-sub": str(size6), "ch5-q6k-scale-bits": str(bits6),
        "ch5-published": ", ".join(files),
        "ch5-published-m": (f"{n_m} of them are _M mixes" if (n_m := sum(t.endswith("_M") for t in files))
                            else "none of them is an _M mix"),
        "ch5-mac-q8": f"{mac['Q8_0']:g}", "ch5-mac-q4": f"{mac['Q4_0']:g}",
        "ch5-mac-ratio": f"{slower_factor(COMFYUI_GGUF_236, 'Q4_0', 'Q8_0'):.2f}",
    }
