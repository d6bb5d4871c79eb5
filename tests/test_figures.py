"""The book's figure helpers: HTML in the build, stable anchors, and clear errors."""

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
