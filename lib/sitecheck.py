"""Open every page of the built book in headless Chromium and check what a reader would see.

Per page: no Python traceback or error output, every plotly figure drawn (an SVG inside each plot
div once scripts ran), math typeset by MathJax, no JavaScript error, and no request to any host but
the local server (requests elsewhere are recorded and aborted, so the check never needs a network).

    python -m lib.sitecheck _build/html --screenshots shots/
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
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

# Evaluated in the page once scripts ran: what the reader actually sees.
_PAGE_STATE_JS = """() => {
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
  };
}"""


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


def _judge(state: dict, external: list[str], js_errors: list[str]) -> list[str]:
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
                reports.append(_check_page(browser, base, rel, screenshots, timeout_ms))
            browser.close()
    finally:
        server.shutdown()
    return reports


PAGE_LOAD_TIMEOUT_MS = 60000


def _check_page(browser, base: str, rel: Path, screenshots, timeout_ms: int) -> PageReport:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
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
    # Loading a page from the local server takes well under a second, but on two busy cores the browser's
    # own start can take seconds: the load gets a generous limit; timeout_ms is for figures and math to appear.
    page.goto(f"{base}/{rel.as_posix()}", wait_until="load", timeout=max(timeout_ms, PAGE_LOAD_TIMEOUT_MS))
    try:  # wait until figures are drawn and math typeset, or give up and report what is missing
        page.wait_for_function(
            "() => [...document.querySelectorAll('div.plotly-graph-div')].every(d => d.querySelector('svg.main-svg'))"
            " && (document.querySelectorAll('.math').length === 0 || document.querySelectorAll('mjx-container').length > 0)",
            timeout=timeout_ms,
        )
        page.wait_for_timeout(300)
    except Exception:
        pass
    state = page.evaluate(_PAGE_STATE_JS)
    if screenshots:
        page.screenshot(path=str(Path(screenshots) / (rel.as_posix().replace("/", "__") + ".png")), full_page=True)
    page.close()
    return PageReport(str(rel), state["plots"], state["maths"], _judge(state, external, js_errors))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.sitecheck", description=__doc__.splitlines()[0])
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
