"""Sphinx extension: serve plotly.js from the build so figures render with no network.

The file is copied from the installed plotly package, so its version always matches the figures'
JSON. MathJax is vendored in book/assets/mathjax (see _config.yml `mathjax_path`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PLOTLY_JS = "plotly.min.js"


def plotly_js_source() -> Path:
    """Path of plotly.min.js inside the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall plotly (pip install --force-reinstall plotly)")
    return path


def _copy_plotly_js(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plotly_js_source(), static / PLOTLY_JS)


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    """Remove sphinx-thebe's scripts, which Jupyter Book 1 always loads.

    They point at a CDN (unpkg) and are injected twice per page, which throws
    "Identifier 'THEBE_JS_URL' has already been declared"; the book offers no live kernel anyway.
    """
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [
            s for s in scripts if "thebe" not in str(getattr(s, "filename", s) or "") + str(getattr(s, "attributes", {}).get("body", ""))
        ]
    css = context.get("css_files")
    if css:
        context["css_files"] = [c for c in css if "thebe" not in str(getattr(c, "filename", c))]


def setup(app):
    plotly_js_source()  # fail at the start of a build, not after it
    # The chapters' kernels inherit this and render plotly as HTML (see lib.figures).
    os.environ["DME_BOOK_BUILD"] = "1"
    # Loaded in <head> before any figure's inline script calls Plotly.newPlot.
    app.add_js_file(PLOTLY_JS, priority=400)
    app.connect("build-finished", _copy_plotly_js)
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
