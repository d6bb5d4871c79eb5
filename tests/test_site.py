"""Build the whole book into a temporary folder, as CI and the published site do, and check every page in Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lib import sitecheck
from lib.build import build_book


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    if sitecheck.find_chromium() is None:
        if os.environ.get("DME_REQUIRE_BROWSER") == "1":
            pytest.fail("no Chromium: install it (Debian: apt-get install chromium) or set $CHROMIUM")
        pytest.skip("no Chromium on this machine (set DME_REQUIRE_BROWSER=1 to make this a failure)")
    out = tmp_path_factory.mktemp("book")
    # A fresh output folder means a fresh execution cache: every chapter executes, and -W makes any
    # warning or cell error fail the build.
    proc, _ = build_book(out, strict=True)
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return out / "_build" / "html"


@pytest.mark.site
def test_every_page_renders_offline(built_site):
    reports = sitecheck.check_site(built_site)
    pages = {r.page for r in reports}
    assert "book/intro.html" in pages and "book/running.html" in pages
    failures = [f"{r.page}: {'; '.join(r.problems)}" for r in reports if r.problems]
    assert not failures, "pages that fail:\n" + "\n".join(failures)


@pytest.mark.site
def test_plotly_and_mathjax_are_served_by_the_build(built_site):
    static = built_site / "_static"
    assert (static / "plotly.min.js").stat().st_size > 1_000_000
    assert (static / "mathjax" / "tex-chtml.js").is_file()
    intro = (built_site / "book" / "intro.html").read_text()
    assert "cdn.jsdelivr" not in intro and "cdn.plot.ly" not in intro and "unpkg.com" not in intro


@pytest.mark.site
def test_figures_are_numbered_with_stable_anchors(built_site):
    intro = (built_site / "book" / "intro.html").read_text()
    assert 'id="fig-intro-forward"' in intro  # the label is the anchor, build after build
    assert 'id="plotly-fig-intro-forward"' in intro
    assert "Fig. 1" in intro
