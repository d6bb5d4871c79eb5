"""The chapter's two tables: models compared side by side, and the memory their weights need."""

from __future__ import annotations

from lib.architectures import params, quant_size, specs
from lib.registry import PRESETS

GB = 1e9
TABLE_MODELS = ("sd15", "sd21", "sdxl", "sd3", "flux_schnell", "flux_dev")


def _fmt(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.0f} M"


def comparison_table():
    """One row per model: denoiser, its parameters, text encoders with theirs, latent channels, objective, steps."""
    import pandas as pd

    rows = []
    for key in TABLE_MODELS:
        s = specs.MODELS[key]
        counts = params.model_params(key)
        den = s.of_role("denoiser")[0]
        vae = s.of_role("vae")[0]
        rows.append({
            "model": s.name, "year": s.year, "denoiser": s.denoiser_type,
            "denoiser parameters": _fmt(counts[den.name]),
            "text encoders (parameters)": " + ".join(f"{c.name} ({_fmt(counts[c.name])})" for c in s.of_role("text encoder")),
            "VAE latent channels": vae.config["latent_channels"],
            "training objective": s.objective, "typical steps": s.steps,
        })
    return pd.DataFrame(rows).set_index("model")


def memory_table():
    """Weights of the components of the models the book runs (SD3 Medium, FLUX.1-schnell) at 16 bits, Q8_0 and
    Q4_K_S (GB, computed per tensor)."""
    import pandas as pd

    rows = []
    for key in (spec.architecture for spec in PRESETS.values()):
        for comp in specs.MODELS[key].components:
            if comp.cls == "FluxTransformer2DModel":  # the layout the published FLUX GGUF files use
                shapes = params.flux_schnell_named_shapes("bfl")
            else:  # the same per-tensor rule; its name lists only match FLUX, so this is the generic part
                shapes = params.named_shapes(params.build_meta(comp.cls, comp.config))
            shapes = {k: v for k, v in shapes.items() if len(v) > 0}
            n = params.component_params(comp)
            row = {"model": specs.MODELS[key].name, "component": comp.name, "parameters": f"{n:,}", "fp16/bf16 (GB)": round(2 * n / GB, 2)}
            for q in ("Q8_0", "Q4_K_S"):
                row[f"{q} (GB)"] = round(quant_size.gguf_file_bytes(shapes, q, arch="any") / GB, 2)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "component"])


def gguf_comparison(model: str = "flux-schnell"):
    """Every GGUF file published for a model (lib.registry) against the per-tensor size rule (DataFrame).

    A file whose size the registry does not record keeps NaN in "published (GB)" and "difference (%)": its
    row shows the computed size only, and says so in "size shown"."""
    import pandas as pd

    from lib.registry import model_spec

    shapes = params.flux_schnell_named_shapes("bfl")
    rows = []
    for q, file in model_spec(model).published_gguf.items():
        computed = quant_size.gguf_file_bytes(shapes, q) / GB
        pub = file.gb if file.gb is not None else float("nan")
        rows.append({"file type": q, "plain weights as": file.block_type,
                     "bits per weight": quant_size.bits_per_weight(file.block_type),
                     "computed (GB)": round(computed, 3), "published (GB)": pub,
                     "difference (%)": round(100 * (computed / pub - 1), 2),
                     "size shown": "published" if file.gb is not None else "computed only"})
    return pd.DataFrame(rows).set_index("file type").sort_values("computed (GB)", ascending=False)


def shown(df):
    """The table as the book shows it: missing values as an em dash instead of NaN."""
    return df.astype(object).where(df.notna(), "—")
