"""Chapter 5's views of the trained FLUX-mini (lib.miniature.trained.flux): the reflow student against its guided
teacher, and the GGUF block types on the student, from precomputed/trained-miniatures/adherence-flux.json.

Rates are shares of prompts whose image lib.shapes' scorer finds right, with Wilson 95 % intervals
(lib.chapters.adherence has the wording helpers); transformer passes per image are steps, twice that with CFG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lib.chapters.adherence import ATTRIBUTE_NAMES, KIND_NAMES, compare_words, load_study, pct, rate_text
from lib.chapters.views import LEGEND_BELOW

MODEL_NAMES = {"flux-schnell": "student (reflow, no CFG)", "flux-teacher": "teacher"}


def load(root: Path | None = None) -> dict:
    """The stored FLUX-mini study; RecordError naming the command that makes it when missing or unreadable."""
    return load_study("adherence-flux.json", "FLUX-mini study", "--models flux", root)


def passes(row: dict) -> int:
    """Transformer evaluations per image: one per step, two with classifier-free guidance."""
    return row["steps"] * (2 if row["guidance"] > 1 else 1)


def _plain(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("quantization", "none") == "none" and r["split"] == "train"]


def steps_figure(rows: list[dict], attribute: str = "all") -> Any:
    """Share of prompts right against transformer passes per image (log axis): the student's line, the teacher's
    points (guided at 4 and 28 steps, unguided at 28), one colour per kind of prompt, 95 % intervals as bars."""
    import plotly.graph_objects as go

    fig = go.Figure()
    colours = {"single": "#1f77b4", "relation": "#d62728"}
    for kind in ("single", "relation"):
        for model, mode, symbol in (("flux-schnell", "lines+markers", "circle"), ("flux-teacher", "markers", "diamond")):
            sel = sorted((r for r in _plain(rows) if r["kind"] == kind and r["model"] == model), key=passes)
            if not sel:
                continue
            y = [100 * r["scores"][attribute][0] for r in sel]
            fig.add_trace(go.Scatter(
                x=[passes(r) for r in sel], y=y, mode=mode, name=f"{MODEL_NAMES[model]}: {KIND_NAMES[kind]}",
                marker=dict(symbol=symbol, size=9, color=colours[kind]), line=dict(color=colours[kind]),
                text=[f"{r['steps']} steps, CFG {r['guidance']:g}" for r in sel],
                error_y=dict(type="data", symmetric=False,
                             array=[100 * (r["scores"][attribute][2] - r["scores"][attribute][0]) for r in sel],
                             arrayminus=[100 * (r["scores"][attribute][0] - r["scores"][attribute][1]) for r in sel]),
                hovertemplate="%{text}: %{y:.0f} % right<extra></extra>"))
    fig.update_layout(xaxis_title="transformer passes per image", height=430, template="plotly_white",
                      yaxis_title=f"% of images: {ATTRIBUTE_NAMES.get(attribute, attribute)}", yaxis_range=[0, 100],
                      margin=dict(l=60, r=20, t=30, b=50), legend={**LEGEND_BELOW, "y": -0.25})
    ticks = sorted({passes(r) for r in _plain(rows)})
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks], minor=dict(showgrid=False))
    return fig


def _table(rows: list[dict], label, extra=None) -> Any:
    import pandas as pd

    out = []
    for key, (single, relation) in rows:
        out.append({"condition": label(single), **(extra(single) if extra else {}),
                    "one object: all right": rate_text(single), "relation: all right": rate_text(relation),
                    "relation: the relation": rate_text(relation, "relation")})
    return pd.DataFrame(out).set_index("condition")


def _pairs(rows: list[dict], keep) -> list:
    """(key, (single row, relation row)) for each condition `keep` accepts, in the rows' order."""
    found: dict = {}
    for r in rows:
        if keep(r):
            key = (r["model"], r["steps"], r["guidance"], r.get("quantization", "none"))
            found.setdefault(key, {})[r["kind"]] = r
    return [(k, (v["single"], v["relation"])) for k, v in found.items() if {"single", "relation"} <= set(v)]


def distill_table(rows: list[dict]) -> Any:
    """Student at each step count against the teacher guided and unguided: passes per image and adherence."""
    pairs = _pairs(_plain(rows), lambda r: True)
    return _table(pairs, lambda r: f"{MODEL_NAMES[r['model']]}, {r['steps']} step{'s' if r['steps'] > 1 else ''}"
                  + (f", CFG {r['guidance']:g}" if r["guidance"] > 1 else ""),
                  lambda r: {"passes per image": passes(r)})


def gguf_table(rows: list[dict]) -> Any:
    """The student at its preset steps with each GGUF block type: bits per weight, adherence, image difference."""
    from lib.gguf import BITS_PER_WEIGHT

    pairs = _pairs([r for r in rows if r.get("quantization", "none") != "none"], lambda r: True)
    return _table(pairs, lambda r: r["quantization"], lambda r: {
        "bits per weight": f"{BITS_PER_WEIGHT[r['quantization']]:.2f}",
        "pixel difference (0-255)": f"{r.get('pixel_mad', float('nan')):.2f}"})


def flux_facts(data: dict, log: dict, prefix: str = "ch5") -> dict[str, str]:
    """Glue values: FLUX-mini's size and training, the student against the teacher, the GGUF rows."""
    from lib.miniature.trained.flux import PAIR_GUIDANCE, PAIR_STEPS, dev_shift
    from lib.miniature.trained.study import GGUF_STEPS, TEACHER_GUIDANCE, TEACHER_STEPS, find

    rows = data["rows"]

    def r(kind: str, **kw) -> dict:
        return find(rows, kind=kind, **kw)

    student = dict(model="flux-schnell", guidance=1.0)
    teacher = dict(model="flux-teacher", steps=TEACHER_STEPS, guidance=TEACHER_GUIDANCE)
    t, s, p = log["flux_teacher"], log["flux_student"], log["flux_pairs"]
    facts = {
        f"{prefix}-fm-params": f"{t['parameters'] / 1e6:.1f}", f"{prefix}-fm-teacher-steps": str(t["steps"]),
        f"{prefix}-fm-student-steps": str(s["steps"]), f"{prefix}-fm-batch": str(t["batch"]),
        f"{prefix}-fm-p-uncond": pct(t["p_uncond"]), f"{prefix}-fm-pairs": str(p["n"]),
        f"{prefix}-fm-pair-steps": str(PAIR_STEPS), f"{prefix}-fm-pair-guidance": f"{PAIR_GUIDANCE:g}",
        f"{prefix}-fm-shift": f"{dev_shift(64):.2f}", f"{prefix}-fm-sd3-steps": str(log["sd3"]["steps"]),
        f"{prefix}-fm-minutes": f"{(log['flux_vae']['seconds'] + t['seconds'] + p['seconds'] + s['seconds']) / 60:.0f}",
        f"{prefix}-fm-n": str(data["n"]), f"{prefix}-fm-chip": data["machine"].get("chip", "unknown CPU"),
        f"{prefix}-fm-teacher-steps-cfg": str(TEACHER_STEPS), f"{prefix}-fm-teacher-cfg": f"{TEACHER_GUIDANCE:g}",
        f"{prefix}-fm-teacher-passes": str(2 * TEACHER_STEPS), f"{prefix}-fm-gguf-steps": str(GGUF_STEPS),
    }
    for kind in ("single", "relation"):
        k = f"{prefix}-fm-{kind}"
        for n in (1, 2, 4, 8):
            facts[f"{k}-s{n}"] = rate_text(r(kind, steps=n, **student))
        facts[f"{k}-teacher"] = rate_text(r(kind, **teacher))
        facts[f"{k}-teacher-g1"] = rate_text(r(kind, model="flux-teacher", steps=TEACHER_STEPS, guidance=1.0))
        facts[f"{k}-teacher-s4"] = rate_text(r(kind, model="flux-teacher", steps=4, guidance=TEACHER_GUIDANCE))
        gap = 100 * (r(kind, **teacher)["scores"]["all"][0] - r(kind, steps=4, **student)["scores"]["all"][0])
        facts[f"{k}-gap"] = f"{abs(gap):.0f}"
        facts[f"{k}-gap-word"] = "below" if gap > 0 else "above"
        facts[f"{k}-vs-teacher"] = compare_words(r(kind, steps=4, **student), r(kind, **teacher))
        facts[f"{k}-teacher4-vs-student4"] = compare_words(
            r(kind, model="flux-teacher", steps=4, guidance=TEACHER_GUIDANCE), r(kind, steps=4, **student))
        facts[f"{k}-heldout"] = rate_text(r(kind, split="heldout", steps=4, **student))
        for name, row in (("s4", r(kind, steps=4, **student)), ("teacher", r(kind, **teacher))):
            for a in ("colour", "shape", "count"):
                facts[f"{k}-{name}-{a}"] = rate_text(row, a)
        for q in ("F16", "Q8_0", "Q4_K", "Q4_0"):
            row = r(kind, steps=GGUF_STEPS, quantization=q, **student)
            facts[f"{k}-{q.lower()}"] = rate_text(row)
            facts[f"{k}-{q.lower()}-mad"] = f"{row.get('pixel_mad', float('nan')):.2f}"
    ws, wr = facts[f"{prefix}-fm-single-vs-teacher"], facts[f"{prefix}-fm-relation-vs-teacher"]
    facts[f"{prefix}-fm-vs-teacher"] = (
        f"on both kinds of prompt the student's rate is {ws} the teacher's" if ws == wr else
        f"the student's rate is {ws} the teacher's on single objects and {wr} it on relations") + " (95 % intervals)"
    facts.update(_stored_sizes(rows, prefix))
    return facts


def _stored_sizes(rows: list[dict], prefix: str) -> dict[str, str]:
    """How the committed FLUX-mini stores its two transformers (the teacher as a GGUF file), and how far that block
    type moves the student's images (the largest mean pixel difference over the kinds of prompt)."""
    from lib.miniature.trained import TRAINED_DIR
    from lib.miniature.trained.snapshot import TEACHER_QTYPE, teacher_gguf
    from lib.miniature.trained.study import GGUF_STEPS

    snap = TRAINED_DIR / "flux"
    mad = max(r["pixel_mad"] for r in rows if r.get("quantization") == TEACHER_QTYPE and r["steps"] == GGUF_STEPS)
    return {f"{prefix}-fm-teacher-qtype": TEACHER_QTYPE,
            f"{prefix}-fm-teacher-mb": f"{teacher_gguf(snap).stat().st_size / 1e6:.1f}",
            f"{prefix}-fm-student-mb": f"{sum(f.stat().st_size for f in (snap / 'transformer').iterdir()) / 1e6:.1f}",
            f"{prefix}-fm-q8-mad": f"{mad:.2f}"}


def sample_grid(prompts: list[str], seed: int = 0, root: Path | None = None) -> Any:
    """Images of the stored FLUX-mini, drawn now: one row per prompt, the student at 1, 2, 4 and 8 steps and the
    guided teacher at its steps; the prompt under each row's first image (matplotlib)."""
    import textwrap

    import matplotlib.pyplot as plt

    from lib.miniature.trained import IMAGE_SIZE, trained_paths
    from lib.miniature.trained.evaluate import generate
    from lib.miniature.trained.study import STUDENT_STEPS, TEACHER_GUIDANCE, TEACHER_STEPS, flux_pipeline
    from lib.miniature.trained.text import T5_CONTEXT

    snapshot = trained_paths(root, ("flux",)).flux
    common = dict(height=IMAGE_SIZE, width=IMAGE_SIZE, max_sequence_length=T5_CONTEXT, seed=seed)
    student, teacher = flux_pipeline(snapshot), flux_pipeline(snapshot, teacher=True)
    columns = [(f"student, {n} step{'s' if n > 1 else ''}", generate(student, prompts, num_inference_steps=n, **common))
               for n in STUDENT_STEPS]
    columns.append((f"teacher, {TEACHER_STEPS} steps, CFG {TEACHER_GUIDANCE:g}",
                    generate(teacher, prompts, num_inference_steps=TEACHER_STEPS, true_cfg_scale=TEACHER_GUIDANCE,
                             negative="", **common)))
    fig, axes = plt.subplots(len(prompts), len(columns), figsize=(1.75 * len(columns), 1.95 * len(prompts)),
                             squeeze=False)
    for i, prompt in enumerate(prompts):
        for j, (title, images) in enumerate(columns):
            ax = axes[i][j]
            ax.imshow(images[i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("\n".join(textwrap.wrap(title, 14)), fontsize=8)
            if j == 0:
                ax.set_ylabel("\n".join(textwrap.wrap(f'"{prompt}"', 16)), fontsize=7.5)
    fig.suptitle("FLUX-mini [trained miniature (toy scale, shapes world)]", fontsize=9)
    fig.tight_layout()
    return fig
