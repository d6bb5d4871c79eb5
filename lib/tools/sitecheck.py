"""Open every page of the built book in headless Chromium and check what a reader would see.

Per page: no Python traceback or error output, every plotly figure drawn (an SVG inside each plot
div once scripts ran), math typeset by MathJax, no JavaScript error, and no request to any host but
the local server (requests elsewhere are recorded and aborted, so the check never needs a network).
Then what a reader meets (issue 12): no animation starts by itself, nothing overflows a 420-px-wide page
unless it scrolls inside its own box, the code of every figure and table (`fig-...`/`tbl-...` anchors) is
on the page, collapsed or not, every table is numbered "Table", every image has alt text (not a file name), and
no figure's legend or title lies under its mode bar, at either width.

    python -m lib.tools.sitecheck _build/html --screenshots shots/
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", ".doctrees", "_panels_static"}

# Figures and tables by their labels: the anchors of `{glue:figure}` directives named fig-... or tbl-...
LABELLED = 'figure[id^="fig-"], figure[id^="tbl-"], table[id^="tbl-"], div[id^="fig-"], div[id^="tbl-"]'

# Evaluated in the page once scripts ran: what the reader actually sees.
_PAGE_STATE_JS = """() => {
  const LABELLED = '__LABELLED__';
  const plots = [...document.querySelectorAll('div.plotly-graph-div')];
  const maths = [...document.querySelectorAll('.math')];
  const text = document.body ? document.body.innerText : '';
  return {
    plots: plots.length,
    plots_drawn: plots.filter(d => d.querySelector('svg.main-svg')).length,
    undrawn_ids: plots.filter(d => !d.querySelector('svg.main-svg')).map(d => d.id),
    maths: maths.length,
    maths_typeset: maths.filter(m => m.querySelector('mjx-container') || m.tagName === 'MJX-CONTAINER').length,
    mjx: document.querySelectorAll('mjx-container').length,
    tracebacks: document.querySelectorAll('.traceback, .output.error, .output.stderr').length,
    traceback_text: text.includes('Traceback (most recent call last)'),
    codeless: codeless(),
    unnumbered_tables: unnumberedTables(),
    bad_alt: [...document.querySelectorAll('img')].filter(i => !i.hasAttribute('alt')
      || /(^|[/])_images[/]|[.](png|jpe?g|gif|svg|webp)$/i.test(i.getAttribute('alt').trim()))
      .map(i => (i.getAttribute('src') || '?').split('/').pop()).slice(0, 5),
    animations: (window.__dmeAnimations || []).slice(0, 5),
    autoplay_media: document.querySelectorAll('video[autoplay], audio[autoplay]').length,
  };
  // Figures and tables whose label no code cell on the page mentions (textContent reads collapsed cells too).
  function codeless() {
    const code = [...document.querySelectorAll('.cell_input')].map(c => c.textContent).join(' ');
    return [...document.querySelectorAll(LABELLED)].map(e => e.id).filter(id => !code.includes(id));
  }
  // Tables (tbl-...) whose caption or a {numref} to them does not say "Table".
  function unnumberedTables() {
    const number = e => ((e.querySelector('.caption-number') || {}).textContent || '').trim();
    const bad = [...document.querySelectorAll(LABELLED)].filter(e => e.id.startsWith('tbl-'))
      .filter(e => !number(e).startsWith('Table')).map(e => `${e.id} (${number(e) || 'no number'})`);
    document.querySelectorAll('a[href*="#tbl-"] .std-numref').forEach(r => {
      if (!r.textContent.trim().startsWith('Table')) bad.push('numref ' + r.closest('a').getAttribute('href'));
    });
    return bad;
  }
}""".replace("__LABELLED__", LABELLED)

# Installed before any page script: records every call of Plotly.animate (a figure that animates on load
# calls it from its inline script; a reader's click on a play button never happens in this check).
_ANIMATION_HOOK_JS = """(() => {
  window.__dmeAnimations = [];
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, enumerable: true,
    get() { return plotly; },
    set(v) {
      if (v && typeof v.animate === 'function' && !v.animate.__dme) {
        const animate = v.animate;
        v.animate = function (gd) {
          window.__dmeAnimations.push(typeof gd === 'string' ? gd : (gd && gd.id) || '?');
          return animate.apply(this, arguments);
        };
        v.animate.__dme = true;
      }
      plotly = v;
    }});
})()"""

# What moves by itself: sliders' positions and each figure's current frame, read twice a moment apart.
_MOTION_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => JSON.stringify([
  gd.id, ((gd.layout || {}).sliders || []).map(s => s.active),
  (gd._fullLayout || {})._currentFrame || null, !!gd._transitioning]))"""

# At a phone's width: plots, tables and images whose right edge passes the viewport's, unless an
# ancestor scrolls (or clips) horizontally and itself ends inside the viewport; and a page that scrolls sideways.
_OVERFLOW_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const inScroller = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (['auto', 'scroll', 'hidden', 'clip'].includes(ox)) return a.getBoundingClientRect().right <= vw + 1;
    }
    return false;
  };
  const found = [...document.querySelectorAll('div.plotly-graph-div, table, img, svg.main-svg')]
    .filter(el => el.offsetParent !== null && el.getBoundingClientRect().width > 0)
    .filter(el => el.getBoundingClientRect().right > vw + 1 && !inScroller(el))
    .map(el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} ${Math.round(el.getBoundingClientRect().right)}px`)
    .slice(0, 5);
  // Anything else that makes the whole page scroll sideways (a long unbreakable URL, a wide code line
  // outside its box): named by the innermost element that is wider than its own box.
  const extra = document.documentElement.scrollWidth - vw;
  if (extra > 1) {
    const wide = [...document.querySelectorAll('body *')].filter(el => el.scrollWidth > el.clientWidth + 1
      && el.clientWidth > 0 && !['auto', 'scroll'].includes(getComputedStyle(el).overflowX));
    const el = wide[wide.length - 1];
    const text = el ? (el.textContent || '').trim().slice(0, 40) : '';
    found.push(`the page scrolls sideways by ${extra}px` + (el ? ` (${el.tagName.toLowerCase()}: "${text}")` : ''));
  }
  return found;
}"""
# A plotly figure's legend or title under its mode bar (the bar shows on hover and hides what is beneath it).
_UNDER_MODEBAR_JS = """() => {
  const hit = (a, b) => a.width > 0 && b.width > 0 && a.left < b.right && b.left < a.right
    && a.top < b.bottom && b.top < a.bottom;
  const found = [];
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    const bar = gd.querySelector('.modebar');
    if (!bar) return;
    const b = bar.getBoundingClientRect();
    [['legend', 'g.legend'], ['title', '.gtitle']].forEach(([what, sel]) => {
      const el = gd.querySelector(sel);
      if (el && hit(b, el.getBoundingClientRect())) found.push(`${gd.id || 'plot'} ${what}`);
    });
  });
  return found;
}"""
NARROW_VIEWPORT = {"width": 420, "height": 900}
WIDE_VIEWPORT = {"width": 1280, "height": 900}
MOTION_WAIT_MS = 500  # a slider stepping on a timer moves within this
MOTION_SAMPLES = 5


@dataclass
class PageReport:
    """What one page showed; `problems` is empty when the page is fine."""

    page: str
    plots: int = 0
    maths: int = 0
    problems: list[str] = field(default_factory=list)


def find_chromium() -> str | None:
    """The Chromium executable: $CHROMIUM, else chromium / chromium-browser / google-chrome on PATH, else macOS Chrome."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    mac = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
    return mac if os.path.exists(mac) else None


def site_pages(html_dir: Path) -> list[Path]:
    """Every HTML page of a built book (not the static assets)."""
    pages = []
    for path in sorted(html_dir.rglob("*.html")):
        rel = path.relative_to(html_dir)
        if not (set(rel.parts[:-1]) & SKIP_DIRS):
            pages.append(rel)
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _serve(html_dir: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _judge(state: dict, external: list[str], js_errors: list[str], moved: list[str] = (),
           overflow: list[str] = (), covered: list[str] = ()) -> list[str]:
    problems = []
    if state["tracebacks"] or state["traceback_text"]:
        problems.append("shows a Python traceback or error output")
    if state["plots_drawn"] < state["plots"]:
        problems.append(f"plotly figures not drawn: {state['undrawn_ids']} (is plotly.js served?)")
    if state["maths"] and state["maths_typeset"] < state["maths"]:
        problems.append(f"math not typeset: {state['maths'] - state['maths_typeset']} of {state['maths']} formulas (is MathJax served?)")
    if external:
        problems.append(f"requested external hosts: {sorted(set(external))[:5]}")
    if js_errors:
        problems.append(f"JavaScript errors: {js_errors[:3]}")
    if state["animations"] or state["autoplay_media"] or moved:
        what = state["animations"] + list(moved) + (["<video/audio autoplay>"] if state["autoplay_media"] else [])
        problems.append(f"an animation starts by itself: {what[:5]}")
    if overflow:
        problems.append(f"overflows a {NARROW_VIEWPORT['width']}-px page: {list(overflow)}")
    if state["codeless"]:
        problems.append(f"figures/tables whose code is not on the page (no code cell names them): {state['codeless'][:8]}")
    if covered:
        problems.append(f"legend or title under the plot's mode bar: {sorted(set(covered))[:5]}")
    if state["bad_alt"]:
        problems.append(f"images without alt text that says what they show (none, or a file name): "
                        f"{state['bad_alt']}")
    if state["unnumbered_tables"]:
        problems.append(f"tables not numbered as 'Table': {state['unnumbered_tables'][:8]}")
    return problems


def check_site(html_dir: str | Path, screenshots: str | Path | None = None, timeout_ms: int = 20000) -> list[PageReport]:
    """Check every page of the built book in headless Chromium; one report per page."""
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir).resolve()
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found: install it (Debian: apt-get install chromium) or set $CHROMIUM")
    if screenshots:
        Path(screenshots).mkdir(parents=True, exist_ok=True)
    server, base = _serve(html_dir)
    reports = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            for rel in site_pages(html_dir):
                reports.append(_check_page(browser, base, rel, screenshots, timeout_ms, html_dir))
            browser.close()
    finally:
        server.shutdown()
    return reports


PAGE_LOAD_TIMEOUT_MS = 60000
# Ready: every plot drawn and every formula typeset (not merely the first one: MathJax typesets in chunks).
_READY_JS = (
    "() => [...document.querySelectorAll('div.plotly-graph-div')].every(d => d.querySelector('svg.main-svg'))"
    " && [...document.querySelectorAll('.math')].every(m => m.querySelector('mjx-container')"
    " || m.tagName === 'MJX-CONTAINER')"
)


_REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


def redirect_target(html_dir: Path, rel: Path) -> str | None:
    """The page a redirect-only page (Jupyter Book's root index.html) sends the reader to, else None."""
    text = (html_dir / rel).read_text(encoding="utf-8", errors="replace")[:2000]
    match = _REFRESH.search(text)
    return match.group(1) if match and "<body" not in text.lower() else None


def _check_redirect(html_dir: Path, rel: Path, target: str) -> PageReport:
    """A redirect is judged by where it goes; the target is checked as a page of its own. Loading it in the
    browser would check the target under the redirect's name while the navigation races the checks."""
    dest = (html_dir / rel).parent / target.split("#")[0]
    problems = [] if dest.is_file() else [f"redirects to {target}, which is not in the build"]
    return PageReport(str(rel), problems=problems)


def _check_page(browser, base: str, rel: Path, screenshots, timeout_ms: int, html_dir: Path | None = None) -> PageReport:
    if html_dir is not None and (target := redirect_target(html_dir, rel)):
        return _check_redirect(html_dir, rel, target)
    page = browser.new_page(viewport=WIDE_VIEWPORT)
    external, js_errors = [], []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: js_errors.append(str(e)))
    page.add_init_script(_ANIMATION_HOOK_JS)
    # Loading a page from the local server takes well under a second, but on two busy cores the browser's
    # own start can take seconds: the load gets a generous limit; timeout_ms is for figures and math to appear.
    page.goto(f"{base}/{rel.as_posix()}", wait_until="load", timeout=max(timeout_ms, PAGE_LOAD_TIMEOUT_MS))
    try:  # wait until figures are drawn and math typeset, or give up and report what is missing
        page.wait_for_function(_READY_JS, timeout=timeout_ms)
        page.wait_for_timeout(300)
    except Exception:
        pass
    before, moved = page.evaluate(_MOTION_JS), set()
    for _ in range(MOTION_SAMPLES if before else 0):  # only pages with figures can move; the others cost no wait
        page.wait_for_timeout(MOTION_WAIT_MS // MOTION_SAMPLES)
        moved |= set(page.evaluate(_MOTION_JS)) - set(before)  # sampled often: a loop may come back to its start
    moved = sorted(moved)
    state = page.evaluate(_PAGE_STATE_JS)
    covered = page.evaluate(_UNDER_MODEBAR_JS) if before else []
    if screenshots:
        page.screenshot(path=str(Path(screenshots) / (rel.as_posix().replace("/", "__") + ".png")), full_page=True)
    # The same page at a phone's width: plotly's responsive figures redraw on the resize.
    page.set_viewport_size(NARROW_VIEWPORT)
    page.wait_for_timeout(400 if before else 100)
    overflow = page.evaluate(_OVERFLOW_JS)
    if before:
        covered += [f"{c} at {NARROW_VIEWPORT['width']} px" for c in page.evaluate(_UNDER_MODEBAR_JS)]
    if screenshots:
        page.screenshot(path=str(Path(screenshots) / (rel.as_posix().replace("/", "__") + ".420.png")), full_page=True)
    page.close()
    return PageReport(str(rel), state["plots"], state["maths"],
                      _judge(state, external, js_errors, moved, overflow, covered))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.tools.sitecheck", description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", default="_build/html", help="the built site (default: _build/html)")
    parser.add_argument("--screenshots", help="folder to save a full-page PNG of every page")
    args = parser.parse_args(argv)
    if not Path(args.html_dir, "index.html").exists():
        print(f"error: {args.html_dir}/index.html not found: build the book first (jupyter-book build .)", file=sys.stderr)
        return 2
    reports = check_site(args.html_dir, args.screenshots)
    for r in reports:
        status = "ok" if not r.problems else "FAIL: " + "; ".join(r.problems)
        print(f"{r.page}: {r.plots} plots, {r.maths} formulas: {status}")
    return 1 if any(r.problems for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
