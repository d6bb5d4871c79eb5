"""Show figures in the book: plotly that renders offline, and a glue helper that makes any figure numbered and citable.

Why a renderer of our own: in a kernel, plotly emits only `application/vnd.plotly.v1+json`, which
myst-nb cannot render, so figures vanish from the built book. In a book build (and under nbval) we emit
`text/html` made with `plotly.io.to_html(include_plotlyjs=False)`; the one copy of plotly.js is served by
the build (`lib.tools.sphinx_assets`), never from a CDN. In an interactive Jupyter session, where no page has
plotly.js, we emit the plotly mimetype that JupyterLab renders. Both are never emitted together: myst-nb
warns on every mime type it cannot render, and the build treats warnings as errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

RENDERER = "book"
# Interactive but quiet: no plotly logo, no link to the plotly cloud; redrawn when the page width changes.
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
# Room above the plot for plotly's mode bar (about 30 px tall), so no title or legend sits under it.
MIN_TOP_MARGIN = 40
_LABEL = re.compile(r"^[a-z][a-z0-9-]*$")
# Set by lib.tools.sphinx_assets when Sphinx starts (the kernels inherit it) and by the tests' conftest.
BUILD_ENV = "DME_BOOK_BUILD"


def in_book_build() -> bool:
    """True when this kernel executes for the book build or its tests, not for a reader's Jupyter."""
    return os.environ.get(BUILD_ENV) == "1"


def plotly_bundle(fig: Any, label: str | None = None) -> dict:
    """The mimebundle of a plotly figure: HTML for the book, the plotly mimetype for Jupyter."""
    fig_json = fig if isinstance(fig, dict) else fig.to_plotly_json()
    if in_book_build():
        return {"text/html": plotly_html(fig_json, label)}
    return {"application/vnd.plotly.v1+json": {"data": fig_json.get("data", []), "layout": fig_json.get("layout", {})}}


def _div_id(fig_json: dict, label: str | None) -> str:
    """A stable div id: from the label, else from a hash of the figure (plotly's own is random per build)."""
    if label:
        return f"plotly-{label}"
    digest = hashlib.sha1(json.dumps(fig_json, sort_keys=True, default=str).encode()).hexdigest()
    return f"plotly-{digest[:12]}"


def page_layout(layout: dict) -> dict:
    """A figure's layout as the book shows it: as wide as the page (no fixed width, which would clip it on a
    phone) and at least MIN_TOP_MARGIN px above the plot for the mode bar."""
    layout = {k: v for k, v in layout.items() if k != "width"}
    margin = dict(layout.get("margin") or {})
    if margin.get("t", MIN_TOP_MARGIN) < MIN_TOP_MARGIN:  # plotly's default top margin is 100 px
        margin["t"] = MIN_TOP_MARGIN
        layout["margin"] = margin
    return layout


def plotly_html(fig: Any, label: str | None = None) -> str:
    """The HTML fragment of a plotly figure, without plotly.js, with a stable div id; an animated figure
    waits for its play button (plotly's `auto_play` would start it on load)."""
    fig_json = fig if isinstance(fig, dict) else fig.to_plotly_json()
    div_id = _div_id(fig_json, label)
    fig_json = {**fig_json, "layout": page_layout(fig_json.get("layout", {}))}
    return pio.to_html(
        fig_json,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config=PLOTLY_CONFIG,
        auto_play=False,
        validate=False,
    )


class _BookRenderer(MimetypeRenderer):
    """Plotly renderer: text/html for the book, the plotly mimetype for JupyterLab."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        return plotly_bundle(fig_dict)


def use_book_renderer() -> None:
    """Make plain `fig` / `fig.show()` in a chapter render through the book renderer."""
    pio.renderers[RENDERER] = _BookRenderer()
    pio.renderers.default = RENDERER


class _LabeledPlotly:
    """A plotly figure whose HTML carries a stable id derived from its label."""

    def __init__(self, fig: Any, label: str):
        self.fig, self.label = fig, label

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return plotly_bundle(self.fig, self.label)


def glue_figure(label: str, fig: Any) -> None:
    """Store a plotly or matplotlib figure under `label` for a `{glue:figure}` directive of the same `:name:`.

    The chapter then writes, where the figure belongs::

        ```{glue:figure} fig-noise-schedules
        :name: fig-noise-schedules

        The caption, which may cite {cite}`ho2020ddpm` and use math.
        ```

    and refers to it with ``{numref}`fig-noise-schedules```. The label is the figure's HTML anchor,
    so links to it stay valid across builds.
    """
    from myst_nb import glue

    if not _LABEL.match(label):
        raise ValueError(f"figure label {label!r}: use lowercase letters, digits and '-', starting with a letter")
    if hasattr(fig, "to_plotly_json"):
        glue(label, _LabeledPlotly(fig, label), display=False)
        return
    if hasattr(fig, "savefig"):  # matplotlib: glue the PNG, then close so it is not shown twice
        import matplotlib.pyplot as plt

        glue(label, fig, display=False)
        plt.close(fig)
        return
    raise TypeError(f"glue_figure takes a plotly or matplotlib figure, not {type(fig).__name__}")


use_book_renderer()
