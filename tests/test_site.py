"""Build the whole book into a temporary folder, as CI and the published site do, and check every page in Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lib.tools import sitecheck
from lib.tools.build import build_book


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
    # Linked in <head> of a page that draws a figure, before the figure's script; not from a page without one.
    head, body = intro.split("</head>", 1)
    assert "plotly.min.js" in head and "plotly-graph-div" in body
    cite = (built_site / "book" / "cite.html").read_text()
    assert "plotly-graph-div" not in cite and "plotly.min.js" not in cite


@pytest.mark.site
def test_figures_are_numbered_with_stable_anchors(built_site):
    intro = (built_site / "book" / "intro.html").read_text()
    assert 'id="fig-intro-forward"' in intro  # the label is the anchor, build after build
    assert 'id="plotly-fig-intro-forward"' in intro
    assert "Fig. 1" in intro


@pytest.mark.site
def test_a_records_remark_keeps_its_command_lines(built_site):
    """Chapter 6 shows each shorter training's remark, which quotes the command that made it: '--fraction' must not
    become an en dash (Sphinx's smartquotes) nor lose characters to Markdown."""
    from lib.chapters import reproduction

    page = (built_site / "book" / "06_comparison.html").read_text()
    for run in reproduction.shorter_runs():
        for flag in re.findall(r"--[a-z-]+", run["remark"]):
            assert flag in page, flag
    assert "\u2013fraction" not in page


CHAPTERS = ("01_diffusion_fundamentals", "02_architecture_evolution", "03_flow_matching", "04_sd3_medium",
            "05_flux_schnell_gguf", "06_comparison")


@pytest.mark.site
def test_glued_tables_are_numbered_as_tables(built_site):
    page = (built_site / "book" / "05_flux_schnell_gguf.html").read_text()
    caption = page.split('id="tbl-ch5-quant"', 1)[1].split("</figure>", 1)[0]
    assert '<span class="caption-number">Table 5.' in caption
    assert re.search(r'href="#tbl-ch5-\w+"><span class="std std-numref">Table 5\.\d+</span>', page)


@pytest.mark.site
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_can_be_taken_away_as_an_executed_notebook(built_site, chapter):
    import nbformat

    page = (built_site / "book" / f"{chapter}.html").read_text()
    assert f'href="../_sources/book/{chapter}.ipynb"' in page and f'href="../_sources/book/{chapter}.md"' in page
    nb = nbformat.read(built_site / "_sources" / "book" / f"{chapter}.ipynb", as_version=4)
    nbformat.validate(nb)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    glued = [o.metadata.scrapbook.name for o in outputs if "scrapbook" in o.get("metadata", {})]
    assert any(name.startswith(("fig-", "tbl-")) for name in glued), f"no figure or table among the outputs: {glued}"


@pytest.mark.site
def test_the_citation_and_every_footer_come_from_citation_cff(built_site):
    from lib.citation import read_citation

    cff = read_citation()
    cite = re.sub(r"<[^>]+>", "", (built_site / "book" / "cite.html").read_text())  # highlighting spans out
    assert "@software{" in cite and f"version  = {{{cff['version']}}}" in cite
    for page in sitecheck.site_pages(built_site):
        html = (built_site / page).read_text()
        if "<footer" in html:
            assert f"version {cff['version']}, built " in html, page


@pytest.mark.site
def test_the_reference_list_is_in_author_year_order(built_site):
    page = (built_site / "book" / "references.html").read_text()
    labels = re.findall(r'<span class="label"><span class="fn-bracket">\[</span>(.*?)<span', page)
    assert len(labels) > 10 and all(re.search(r", \d{4}[a-z]?$", label) for label in labels), labels[:3]
    first_authors = [re.split(r" et al\.| and |, \d{4}", label)[0].lower() for label in labels]
    assert first_authors == sorted(first_authors)


def test_the_bibtex_entry_is_made_from_the_citation_file():
    from lib.citation import citation_bibtex

    cff = {"title": "A Book: subtitle", "version": "1.2.0", "date-released": "2027-03-04",
           "authors": [{"name": "Some Team"}, {"family-names": "Doe", "given-names": "Jane"}]}
    entry = citation_bibtex(cff)
    assert entry.startswith("@software{abook2027,")
    assert "author   = {{Some Team} and Doe, Jane}" in entry and "version  = {1.2.0}" in entry


def test_the_take_away_notebook_gets_its_glued_outputs_back_under_the_cells_that_made_them(tmp_path):
    import json

    import nbformat

    from lib.tools.sphinx_assets import takeaway_notebook

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('glue("tbl-a", table, display=False)'),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell('for name in names:\n    glue(f"x-{name}-gb", 1, display=False)\n'
                                  'glue("fig-b", fig, display=False)'),
    ])
    nbformat.write(nb, tmp_path / "page.ipynb")

    def out(key: str) -> dict:
        return {"output_type": "display_data", "data": {"text/plain": key},
                "metadata": {"scrapbook": {"name": key, "mime_prefix": "application/papermill.record/"}}}

    keys = ["tbl-a", "x-sd3-gb", "x-flux-gb", "fig-b"]
    (tmp_path / "page.glue.json").write_text(json.dumps({k: out(k) for k in keys}))
    restored = takeaway_notebook(tmp_path / "page.ipynb")
    nbformat.validate(restored)
    first, second = [c for c in restored.cells if c.cell_type == "code"]
    assert [o.data["text/plain"] for o in first.outputs] == ["tbl-a"]
    assert [o.data["text/plain"] for o in second.outputs] == ["x-sd3-gb", "x-flux-gb", "fig-b"]


def test_the_book_and_the_library_carry_one_version():
    """CITATION.cff (the book's citation and footer), the package metadata and lib.__version__ agree."""
    import tomllib

    import lib
    from lib.citation import ROOT, read_citation

    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert str(read_citation()["version"]) == lib.__version__ == package
