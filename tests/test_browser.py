"""Serve the built site on 127.0.0.1 and load every page in headless Chromium.

Each page must draw all its Plotly figures and formulas, log no console error
and request nothing outside 127.0.0.1. A screenshot of every page is saved in
``_build/browser-test/`` of this checkout, where a failing run leaves it. The
same check runs against any build from the command line::

    .venv/bin/python tests/test_browser.py _build/html
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Flags that keep Chromium from reaching any host by itself; SwiftShader gives
# WebGL without a GPU, which Plotly's 3D scenes need.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--enable-unsafe-swiftshader",
    "--window-size=1280,900",
)
PAGE_TIMEOUT_S = 60
MAX_PAGE_BYTES = 5 * 2**20
SCREENSHOTS = Path(__file__).resolve().parents[1] / "_build" / "browser-test"

# Reports, for every Plotly figure of the page, whether Plotly drew it.
FIGURES_SCRIPT = """
return Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => ({
  id: gd.id,
  plotted: gd.classList.contains('js-plotly-plot'),
  traces: (gd._fullData || []).length,
  svg: gd.querySelectorAll('svg.main-svg').length,
  marks: gd.querySelectorAll(
    'g.trace, g.point, g.heatmaplayer image, g.imagelayer image, g.column-cell')
    .length,
  canvases: Array.from(gd.querySelectorAll('canvas'))
    .filter(c => c.width > 0 && c.height > 0).length,
  scenes: gd._fullLayout
    ? Object.keys(gd._fullLayout).filter(k => /^scene\\d*$/.test(k)).length : 0,
}));
"""
# Resolves once every figure is plotted and MathJax, where present, is done.
READY_SCRIPT = """
const done = arguments[arguments.length - 1];
const start = Date.now();
function check() {
  const divs = Array.from(document.querySelectorAll('.plotly-graph-div'));
  const plotted = divs.every(d => d.classList.contains('js-plotly-plot'));
  const mathjax = !window.MathJax || !window.MathJax.startup ||
    window.MathJax.startup.promise;
  if (document.readyState === 'complete' && plotted) {
    Promise.resolve(mathjax === true ? null : mathjax)
      .then(() => done(true), () => done(false));
  } else if (Date.now() - start > arguments[0] * 1000) {
    done(false);
  } else {
    setTimeout(check, 100);
  }
}
check();
"""


@dataclass
class Served:
    """One response of the test server."""

    path: str
    status: int
    size: int


@dataclass
class PageReport:
    """What loading one page showed."""

    page: str
    ready: bool
    figures: list[dict]
    math_elements: int
    math_rendered: int
    console_errors: list[str]
    outside_requests: list[str]
    served: list[Served] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def transferred(self) -> int:
        return sum(s.size for s in self.served if s.status == 200)


class _Handler(http.server.SimpleHTTPRequestHandler):
    log: list[Served]

    def send_response(self, code, message=None):
        self._status = code
        super().send_response(code, message)

    def copyfile(self, source, outputfile):
        start = source.tell()
        super().copyfile(source, outputfile)
        self._size = source.tell() - start

    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, format, *args):
        pass

    def handle_one_request(self):
        self._status, self._size = 0, 0
        super().handle_one_request()
        if getattr(self, "path", None):
            path = urlsplit(self.path).path
            self.log.append(Served(path, self._status, self._size))


@contextmanager
def serve(root: Path) -> Iterator[tuple[str, list[Served]]]:
    """Serve ``root`` on 127.0.0.1 at a free port; yield its URL and request log."""
    log: list[Served] = []
    handler = type("Handler", (_Handler,), {"log": log})
    handler = functools.partial(handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator:
    """Start headless Chromium through the system's ChromeDriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="funcsim-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    logging_prefs = {"browser": "ALL", "performance": "ALL"}
    options.set_capability("goog:loggingPrefs", logging_prefs)
    # An explicit driver path keeps Selenium Manager from downloading one.
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.set_script_timeout(PAGE_TIMEOUT_S + 10)
        # The first tab's own start page is not part of the site.
        driver.get("about:blank")
        driver.get_log("performance")
        driver.get_log("browser")
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def site_pages(html: Path) -> list[str]:
    """Return every HTML page of the site, relative to ``html``."""
    return sorted(
        str(p.relative_to(html))
        for p in html.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(html).parts)
    )


def requested_urls(driver) -> list[str]:
    """Return the URLs of the requests since the last call, from the DevTools log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def is_local(url: str, base: str) -> bool:
    return url.startswith(base + "/") or url.split(":", 1)[0] in (
        "data",
        "blob",
        "about",
    )


def screenshot_page(driver, path: Path, width: int = 1280) -> None:
    """Save the whole page, not only the window, as a PNG ``width`` pixels wide."""
    import base64

    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics = {
        "width": width,
        "height": min(int(height), 16000),
        "deviceScaleFactor": 1,
        "mobile": False,
    }
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def load_page(driver, base: str, page: str, log: list[Served], shots: Path | None):
    """Load one page, wait for its figures and math, and report what happened."""
    requested_urls(driver)
    driver.get_log("browser")
    del log[:]
    driver.get(f"{base}/{page}")
    ready = bool(driver.execute_async_script(READY_SCRIPT, PAGE_TIMEOUT_S))
    figures = driver.execute_script(FIGURES_SCRIPT)
    math = driver.execute_script(
        "return [document.querySelectorAll('.math').length,"
        " document.querySelectorAll('mjx-container').length]"
    )
    errors = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
    ]
    outside = [u for u in requested_urls(driver) if not is_local(u, base)]
    report = PageReport(page, ready, figures, math[0], math[1], errors, outside)
    report.served = list(log)
    if shots is not None:
        report.screenshot = shots / (page.replace("/", "__") + ".png")
        screenshot_page(driver, report.screenshot)
    return report


def check_site(html: Path, shots: Path | None) -> list[PageReport]:
    """Load every page of the site at ``html`` and return a report per page."""
    with serve(html) as (base, log), chromium() as driver:
        return [load_page(driver, base, page, log, shots) for page in site_pages(html)]


def problems(report: PageReport) -> list[str]:
    """Return what is wrong with one page, as sentences; empty if nothing."""
    found = []
    if not report.ready:
        found.append(f"not ready within {PAGE_TIMEOUT_S} s")
    for figure in report.figures:
        drawn = figure["plotted"] and figure["svg"] > 0 and figure["traces"] > 0
        drawn = drawn and (figure["marks"] > 0 or figure["canvases"] > 0)
        if figure["scenes"]:
            drawn = drawn and figure["canvases"] >= figure["scenes"]
        if not drawn:
            found.append(f"figure {figure['id']} not drawn: {figure}")
    if report.math_elements and report.math_rendered < report.math_elements:
        found.append(
            f"{report.math_rendered} of {report.math_elements} formulas rendered"
        )
    found += [f"console error: {message}" for message in report.console_errors]
    found += [f"request outside 127.0.0.1: {url}" for url in report.outside_requests]
    return found


# -- tests --------------------------------------------------------------------


@pytest.fixture(scope="module")
def visit(smoke_site):
    """Load every page of the shared smoke site once, cold cache first."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian chromium, chromium-driver)"
        )
    html, _ = smoke_site
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    with serve(html) as (base, log), chromium() as driver:
        reports = [
            load_page(driver, base, p, log, SCREENSHOTS) for p in site_pages(html)
        ]
    return html, reports


def where(report: PageReport) -> str:
    return f"{report.page} (screenshot: {report.screenshot})"


def test_every_page_visited(visit):
    html, reports = visit
    pages = {r.page for r in reports}
    for page in (
        "book/intro.html",
        "notebooks/why.html",
        "notebooks/colophon.html",
        "book/references.html",
        "index.html",
    ):
        assert page in pages
    assert all(r.ready for r in reports), [where(r) for r in reports if not r.ready]


def test_every_figure_drawn(visit):
    _, reports = visit
    figures = sum(len(r.figures) for r in reports)
    assert figures >= 6, "the section pages and the example page draw figures"
    for report in reports:
        drawing = [p for p in problems(report) if p.startswith("figure")]
        assert not drawing, (where(report), drawing)


def test_every_formula_rendered(visit):
    _, reports = visit
    assert sum(r.math_elements for r in reports) > 0
    for report in reports:
        assert report.math_rendered >= report.math_elements, where(report)


def test_no_console_errors(visit):
    _, reports = visit
    for report in reports:
        assert report.console_errors == [], where(report)


def test_no_request_leaves_localhost(visit):
    _, reports = visit
    assert all(r.served for r in reports), "the server logged no request"
    for report in reports:
        assert report.outside_requests == [], where(report)


def test_plotly_js_fetched_once(visit):
    _, reports = visit
    fetched = [
        s
        for r in reports
        for s in r.served
        if s.path.endswith("plotly.min.js") and s.status == 200
    ]
    assert len(fetched) == 1, fetched
    assert fetched[0].path == "/_static/plotly.min.js"


def test_no_page_over_5mb(visit):
    html, reports = visit
    for page in site_pages(html):
        assert (html / page).stat().st_size < MAX_PAGE_BYTES, page
    # The first page fills the cache with the shared assets, plotly.js among
    # them; every later page must stay under the limit on its own.
    for report in reports[1:]:
        assert report.transferred < MAX_PAGE_BYTES, (where(report), report.served)


def test_screenshot_of_every_page(visit):
    from PIL import Image

    _, reports = visit
    for report in reports:
        with Image.open(report.screenshot) as image:
            width, height = image.size
            colours = image.convert("L").getextrema()
        assert width == 1280, report.screenshot
        assert height >= 600, report.screenshot
        assert colours[0] < colours[1], f"{report.screenshot} is blank"


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else SCREENSHOTS
    failed = False
    for report in check_site(root, out):
        issues = problems(report)
        failed |= bool(issues)
        print(
            f"{report.page}: {len(report.figures)} figures, "
            f"{report.math_rendered}/{report.math_elements} formulas, "
            f"{report.transferred / 2**20:.2f} MiB in {len(report.served)} requests"
        )
        for issue in issues:
            print(f"  {issue}")
    sys.exit(1 if failed else 0)
