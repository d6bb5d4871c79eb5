"""The book's figure helpers: HTML in the build, stable anchors, clear errors, and figures that behave on a page
(no fixed width, legends clear of the mode bar, log axes labelled at decades only)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from lib import figures


def _fig():
    return go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 0, 1]))


def test_in_the_build_a_plotly_figure_is_html_without_plotly_js(monkeypatch):
    monkeypatch.setenv(figures.BUILD_ENV, "1")
    bundle = figures.plotly_bundle(_fig(), "fig-x")
    assert list(bundle) == ["text/html"]  # one mime type: myst-nb warns on any it cannot render
    html = bundle["text/html"]
    assert 'id="plotly-fig-x"' in html and "Plotly.newPlot" in html
    assert len(html) < 20_000  # plotly.js itself is served once by the build, not inlined


def test_in_jupyter_a_plotly_figure_is_the_plotly_mimetype(monkeypatch):
    monkeypatch.delenv(figures.BUILD_ENV, raising=False)
    assert list(figures.plotly_bundle(_fig())) == ["application/vnd.plotly.v1+json"]


def test_unlabeled_figures_get_the_same_div_id_every_time():
    assert figures.plotly_html(_fig()) == figures.plotly_html(_fig())
    other = go.Figure(go.Scatter(x=[0, 1], y=[1, 1]))
    assert figures.plotly_html(_fig()).split('id="')[1][:20] != figures.plotly_html(other).split('id="')[1][:20]


def test_renderer_is_the_default_once_imported():
    import plotly.io as pio

    assert pio.renderers.default == figures.RENDERER


@pytest.mark.parametrize("label", ["Fig One", "1fig", "fig_x", ""])
def test_bad_labels_are_refused(label):
    with pytest.raises(ValueError, match="figure label"):
        figures.glue_figure(label, _fig())


def test_glue_refuses_what_is_not_a_figure():
    with pytest.raises(TypeError, match="plotly or matplotlib"):
        figures.glue_figure("fig-x", [1, 2, 3])


def _study_frame():
    import pandas as pd

    return pd.DataFrame({"bits_per_weight": [16.0, 8.5, 4.5], "weight_rel_rms": [1e-4, 3e-3, 6e-2],
                         "pixel_mad": [0.01, 0.4, 9.0]}, index=["F16", "Q8_0", "Q4_0"])


def test_log_axes_label_powers_of_ten_only():
    from lib import quant_study

    fig = quant_study.study_figure(_study_frame())
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.type == "log" and axis.dtick == 1


def test_chapter_figures_have_no_fixed_width_and_keep_legends_below_the_mode_bar():
    from lib.chapters import theory

    fig = theory.shift_figure(steps=4)
    assert fig.layout.width is None
    assert fig.layout.legend.y < 0 and len([t for t in fig.data if t.showlegend is not False]) == 2
    assert fig.layout.margin.t >= 40
