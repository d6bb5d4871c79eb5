"""Sphinx extension: what the built site needs beyond Jupyter Book's defaults.

- plotly.js served from the build, copied from the installed plotly package so its version matches the
  figures' JSON, and linked only from the pages that draw a figure (MathJax is vendored in
  book/assets/mathjax, see _config.yml `mathjax_path`);
- glued tables numbered as tables: a `{glue:figure}` whose `:name:` starts with `tbl-` becomes "Table 4.1",
  and `{numref}` to it says "Table 4.1" (Sphinx's `numfig_format['table']`);
- every executed page downloadable as a notebook with its outputs, beside its `.md` source;
- the version and build date on every page and the citation of the book, both read from CITATION.cff;
- the reference list sorted by author and year, labelled as the text cites it ("Ho et al., 2020").
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.transforms import SphinxTransform

from lib.citation import CITATION_FILE, read_citation

PLOTLY_JS = "plotly.min.js"
TABLE_PREFIX = "tbl-"
CITE_PAGE = "book/cite"  # the docname of the Cite this book page
BIB_STYLE = "authoryear"  # _config.yml `bibtex_default_style`
ROOT = Path(__file__).resolve().parents[2]


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


# --- Tables -------------------------------------------------------------------------------------------------

class glued_table(nodes.figure):
    """A glued output captioned as a table. Sphinx's translators visit it as a figure (they look visitors up
    along the class's MRO); the std domain numbers it in the "table" sequence, by its exact class."""


class NumberGluedTables(SphinxTransform):
    """Turn each figure labelled `tbl-...` into a `glued_table`, before Sphinx assigns figure numbers."""

    default_priority = 500

    def apply(self, **kwargs) -> None:
        for fig in list(self.document.findall(nodes.figure)):
            if type(fig) is nodes.figure and any(i.startswith(TABLE_PREFIX) for i in fig["ids"]):
                table = glued_table(fig.rawsource, *fig.children, **fig.attributes)
                table["classes"] = [*fig["classes"], "glued-table"]
                fig.replace_self(table)
                for node_id in table["ids"]:  # {numref} finds its target through document.ids
                    self.document.ids[node_id] = table


# --- Notebooks to take away ---------------------------------------------------------------------------------

def executed_notebook(app, pagename: str) -> Path:
    """Where myst-nb wrote the executed notebook of a page (its outputs included)."""
    return Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"


def _glue_pattern(source: str, key: str) -> bool:
    """Whether a cell's source glues `key`: as a string literal, or through an f-string such as f"mac-{name}-gb"."""
    if f'"{key}"' in source or f"'{key}'" in source:
        return True
    for template in re.findall(r"""f(["'])(.*?)\1""", source):
        parts = re.split(r"\{[^}]*\}", template[1])
        # a key's template starts with text ("mac-"): f"{x:.1f}" and the like glue no key
        if len(parts) > 1 and parts[0] and re.fullmatch(".+".join(map(re.escape, parts)), key):
            return True
    return False


def takeaway_notebook(notebook: Path, glue_file: Path | None = None):
    """The executed notebook with its glued outputs put back under the cells that made them.

    myst-nb moves every `glue(...)` output out of the notebook into `<page>.glue.json` (in cell order), so the
    executed notebook alone has no figures or tables; a reader's download should show them."""
    import json

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    glue_file = glue_file or notebook.with_suffix(".glue.json")
    if not glue_file.is_file():
        return nb
    cells = [c for c in nb.cells if c.cell_type == "code"]
    at = 0
    for key, output in json.loads(glue_file.read_text(encoding="utf-8")).items():
        # glued outputs are in cell order: the first cell from here on that names the key made it; a key
        # built at run time (glue(key, ...) in a loop) stays with the cell of the key before it
        found = next((i for i in range(at, len(cells)) if _glue_pattern(cells[i].source, key)), None)
        at = at if found is None else found
        if cells:
            cells[at].outputs.append(nbformat.from_dict(output))
    return nb


def _offer_notebook(app, pagename, templatename, context, doctree) -> None:
    """Write the page's executed notebook, glued outputs included, next to its source, and let the theme's
    download menu offer it (sphinx-book-theme lists `ipynb_source`; it sets it only when launch buttons are on)."""
    import nbformat

    notebook = executed_notebook(app, pagename)
    if app.builder.format != "html" or not notebook.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(takeaway_notebook(notebook), target)
    context["ipynb_source"] = f"{pagename}.ipynb"


# --- Citation -----------------------------------------------------------------------------------------------

def footer_html(cff: dict, built: _dt.date) -> str:
    """The line on every page: version from CITATION.cff and the date of this build."""
    return (f'<p class="dme-version">{cff["title"].split(":")[0]}, version {cff["version"]}, '
            f'built {built.isoformat()} &middot; <a href="{{cite}}">cite this book</a></p>')


def _plotly_where_drawn(app, pagename, templatename, context, doctree) -> None:
    """plotly.js (4.6 MB, about 2 s of script parsing on a laptop core) in <head> of the pages that draw a
    plotly figure, before their inline Plotly.newPlot calls, and on no other page. Sphinx resets each page's
    script list, so a file added in this event is added to this page only."""
    if "plotly-graph-div" in (context.get("body") or ""):
        app.add_js_file(PLOTLY_JS, priority=400)


def _footer(app, pagename, templatename, context, doctree) -> None:
    """Fill the footer's link to the citation page relative to each page."""
    html = context.get("theme_extra_footer") or ""
    if "{cite}" in html:
        context["theme_extra_footer"] = html.replace("{cite}", context["pathto"](CITE_PAGE))


def _set_config(app, config) -> None:
    """Register what depends on the config, and write the version and build date into the footer."""
    cff = read_citation(Path(app.srcdir) / CITATION_FILE)
    options = dict(config.html_theme_options or {})
    options["extra_footer"] = footer_html(cff, _dt.datetime.now(_dt.timezone.utc).date())
    config.html_theme_options = options
    app.add_enumerable_node(glued_table, "table")
    app.add_transform(NumberGluedTables)
    app.add_css_file("book.css")
    app.add_js_file("book.js", priority=500)


# --- Reference list -----------------------------------------------------------------------------------------

def _register_bib_style() -> None:
    """pybtex style `authoryear`: BibTeX's plain entries, sorted by author then year, labelled as cited."""
    from pybtex.plugin import register_plugin
    from pybtex.richtext import Text
    from pybtex.style.formatting.plain import Style as Plain
    from pybtex.style.labels import BaseLabelStyle
    from pybtex.style.sorting import BaseSortingStyle

    def last(person) -> str:
        return str(Text(*person.rich_last_names))  # drops the braces of "{Apple Inc.}"

    def authors(entry) -> list:
        return list(entry.persons.get("author") or entry.persons.get("editor") or [])

    class AuthorYearSort(BaseSortingStyle):
        def sorting_key(self, entry):
            names = " ".join(f"{last(p)} {' '.join(p.first_names)}" for p in authors(entry)).lower()
            return (names, entry.fields.get("year", ""), entry.fields.get("title", "").lower())

    class AuthorYearLabels(BaseLabelStyle):
        """"Ho et al., 2020", "Ho and Salimans, 2021": the form of sphinxcontrib-bibtex's author_year citations."""

        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                people = [last(p) for p in authors(entry)] or [entry.key]
                who = people[0] if len(people) == 1 else (
                    " and ".join(people) if len(people) == 2 else f"{people[0]} et al.")
                yield f"{who}, {entry.fields.get('year', 'n.d.')}"

    class AuthorYear(Plain):
        default_sorting_style = "author_year_title"
        default_label_style = "number"

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.sorting_style, self.label_style = AuthorYearSort(), AuthorYearLabels()
            self.sort, self.format_labels = self.sorting_style.sort, self.label_style.format_labels

    register_plugin("pybtex.style.formatting", BIB_STYLE, AuthorYear, force=True)


def setup(app):
    plotly_js_source()  # fail at the start of a build, not after it
    # The chapters' kernels inherit this and render plotly as HTML (see lib.figures).
    os.environ["DME_BOOK_BUILD"] = "1"
    _register_bib_style()
    app.connect("config-inited", _set_config)
    app.connect("html-page-context", _plotly_where_drawn)
    app.connect("build-finished", _copy_plotly_js)
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("html-page-context", _offer_notebook, priority=500)  # before the theme builds its menu (501)
    app.connect("html-page-context", _footer, priority=900)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
