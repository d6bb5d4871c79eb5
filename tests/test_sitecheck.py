"""The browser check must catch what it claims to catch: tiny hand-made sites, each with one defect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lib import sitecheck
from lib.sphinx_assets import plotly_js_source

pytestmark = pytest.mark.skipif(sitecheck.find_chromium() is None, reason="no Chromium on this machine")

PLOT = """<div id="p1" class="plotly-graph-div" style="height:200px;width:300px"></div>
<script>Plotly.newPlot("p1", [{"y": [1, 3, 2], "type": "scatter"}], {});</script>"""


def _site(tmp_path: Path, body: str, head: str = "", with_plotly: bool = True) -> Path:
    static = tmp_path / "_static"
    static.mkdir()
    if with_plotly:
        shutil.copyfile(plotly_js_source(), static / "plotly.min.js")
    (tmp_path / "index.html").write_text(
        f'<html><head><script src="_static/plotly.min.js"></script>{head}</head><body>{body}</body></html>'
    )
    return tmp_path


def test_a_drawn_plotly_figure_passes(tmp_path):
    [report] = sitecheck.check_site(_site(tmp_path, PLOT))
    assert report.plots == 1 and report.problems == []


def test_missing_plotly_js_is_reported(tmp_path):
    [report] = sitecheck.check_site(_site(tmp_path, PLOT, with_plotly=False), timeout_ms=3000)
    assert any("plotly figures not drawn" in p for p in report.problems)


def test_a_request_to_a_cdn_is_reported_and_never_sent(tmp_path):
    head = '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'
    [report] = sitecheck.check_site(_site(tmp_path, "<p>hi</p>", head=head), timeout_ms=3000)
    assert any("external hosts" in p and "cdn.jsdelivr.net" in p for p in report.problems)


def test_a_traceback_in_the_page_is_reported(tmp_path):
    body = '<div class="cell_output"><pre class="output traceback">Traceback (most recent call last):</pre></div>'
    [report] = sitecheck.check_site(_site(tmp_path, body), timeout_ms=3000)
    assert any("traceback" in p for p in report.problems)


def test_untypeset_math_is_reported(tmp_path):
    [report] = sitecheck.check_site(_site(tmp_path, '<span class="math">\\\\(x^2\\\\)</span>'), timeout_ms=3000)
    assert any("math not typeset" in p for p in report.problems)
