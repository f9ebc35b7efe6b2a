"""The rendered book, opened page by page in a real browser (headless Chromium through Playwright).

Serves the built HTML (``_build/html``, or ``$FACELAB_BOOK_HTML``) on localhost and checks, for every page in
``_toc.yml``, at a desktop (1440x900) and a phone (390x844) viewport: no console errors or uncaught
exceptions, no request that fails (the favicon included) or leaves localhost, every image loaded, the maths
typeset by MathJax without errors, and none of what a reader must never see (``book_page_checks.js``): raw
Markdown tables, stray return values, paths of the build machine, NumPy reprs, literal emphasis markers,
maths or tables wider than their column (outside a deliberate scroller), a page that scrolls sideways,
figures shrunk below 60 % of their width, a live plot not at its last step, widget placeholders. The site's
chrome too: the full title in the sidebar, figures numbered per chapter, author-year bibliography labels.
Also the "next" link leads to the next page of the table of contents, and chapter pages link to their
notebook on Colab. A full-page screenshot of each page at each size goes to ``_build/screenshots/``.

Each defect check is itself tested on a small broken page in ``tests/book_fixtures/`` (it must fire there,
and nothing may fire on ``clean.html``); those tests need Chromium but no built book.

``make test`` builds the book first and sets ``FACELAB_BOOK_HTML``, so a missing build fails there; a plain
``pytest tests`` without a build skips these tests and says how to build.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML_ENV = "FACELAB_BOOK_HTML"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FIXTURES = Path(__file__).resolve().parent / "book_fixtures"
PAGE_CHECKS = (Path(__file__).resolve().parent / "book_page_checks.js").read_text()
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def book_html() -> Path:
    return Path(os.environ.get(HTML_ENV) or ROOT / "_build" / "html")


def toc_pages() -> list[str]:
    """Every page of the book in reading order, as paths without suffix (``book/intro``, ``chapters/01_...``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return [re.sub(r"\.(md|ipynb)$", "", page) for page in pages]


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def chromium_executable() -> str:
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found:
        pytest.fail("No Chromium found. Install Debian's chromium (`apt-get install chromium`; `make test` does "
                    "this) or set CHROMIUM to a Chrome/Chromium executable.")
    return found


@contextlib.contextmanager
def _serve(directory: Path):
    """``directory`` served on a free localhost port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site():
    """The built book served on a free localhost port; yields its base URL."""
    html = book_html()
    if not (html / "index.html").exists():
        if os.environ.get(HTML_ENV):
            pytest.fail(f"{HTML_ENV}={html} holds no built book (no index.html): run `make build` first.")
        pytest.skip(f"no built book in {html}: run `make build` (or `make test`, which builds it) first")
    with _serve(html) as url:
        yield url


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (in requirements.txt)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=["--no-sandbox"])
        yield browser
        browser.close()


def _open(browser, url: str, viewport: str = "desktop"):
    """Open ``url`` and collect what went wrong: console errors, page errors, failed or outside requests."""
    page = browser.new_page(viewport=VIEWPORTS[viewport])
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)

    def only_localhost(route):
        if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            problems.append(f"request leaves the site (the book must work offline): {route.request.url}")
            route.abort()

    page.route("**/*", only_localhost)
    page.goto(url, wait_until="load")
    return page, problems


def _has_maths(text: str) -> bool:
    """Whether a page's source has maths: ``$...$`` or ``{math}`` outside code spans and code blocks."""
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
    return bool(re.search(r"\$[^$\s]", prose)) or "{math}" in prose


PAGES = toc_pages()


def _typeset(page) -> None:
    """Wait until MathJax (if the page loads it) has typeset every formula."""
    if page.locator("script[src*='mathjax']").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=15000)
        page.evaluate("() => MathJax.startup.promise")


def page_defects(page, viewport: str, expect_live_plot: bool = False) -> list[str]:
    """What ``book_page_checks.js`` finds on the open page, as "check: detail" lines."""
    options = {"desktop": viewport == "desktop", "expectLivePlot": expect_live_plot,
               "buildPaths": [str(ROOT), str(ROOT / "_build")]}
    return [f"{item['check']}: {item['detail']}" for item in page.evaluate(PAGE_CHECKS, options)]


def _source(name: str) -> Path:
    return (ROOT / f"{name}.ipynb") if (ROOT / f"{name}.ipynb").exists() else ROOT / f"{name}.md"


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("index", range(len(PAGES)), ids=PAGES)
def test_page_renders_in_a_browser(site, browser, index, viewport):
    name = PAGES[index]
    page, problems = _open(browser, f"{site}/{name}.html", viewport)
    try:
        assert page.title() and "404" not in page.title(), f"{name}: no such page in the build"
        # maths: MathJax (served from the book itself) typesets every formula, and none is an error
        source = _source(name).read_text()
        _typeset(page)
        if _has_maths(source):
            assert page.locator("mjx-container").count() > 0, f"{name}: the page has maths but none was typeset"
        assert page.locator("mjx-merror").count() == 0, f"{name}: MathJax could not typeset a formula"
        # images: every one loaded (scroll through the page so lazy images load too)
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_load_state("networkidle")
        broken = page.evaluate("""() => Promise.all([...document.images].map(img => img.decode().then(
            () => img.naturalWidth > 0 ? null : img.src, () => img.src))).then(list => list.filter(Boolean))""")
        assert not broken, f"{name}: images that did not load: {broken}"
        page.evaluate("() => window.scrollTo(0, 0)")
        shots = book_html().parent / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{Path(name).name}-{viewport}.png"), full_page=True)
        defects = page_defects(page, viewport, expect_live_plot="LiveGANPlot(" in source)
        assert not defects, f"{name} at {viewport} size:\n" + "\n".join(defects)
        assert not problems, f"{name}: " + "\n".join(problems)
    finally:
        page.close()


def _fixture_expectations(path: Path, viewport: str) -> set[str]:
    found = re.search(rf'<meta name="expect-{viewport}" content="([^"]*)">', path.read_text())
    assert found, f"{path.name}: no <meta name=\"expect-{viewport}\"> naming the checks it must trip"
    return {check for check in found.group(1).split(";") if check}


FIXTURE_PAGES = sorted(FIXTURES.glob("*.html"))


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("fixture", FIXTURE_PAGES, ids=lambda p: p.stem)
def test_each_check_fails_on_a_page_broken_that_way(browser, fixture, viewport):
    """A test of the test: each small broken page trips exactly the checks it is built to trip."""
    with _serve(FIXTURES) as url:
        page, _ = _open(browser, f"{url}/{fixture.name}", viewport)
        try:
            fired = {line.split(":")[0] for line in page_defects(page, viewport)}
        finally:
            page.close()
    assert fired == _fixture_expectations(fixture, viewport), f"{fixture.name} at {viewport}: fired {fired}"


def test_every_check_has_a_broken_page():
    checks = set(re.findall(r'report\(\s*[`"]([^`"$]+)[`"]', PAGE_CHECKS))
    checks |= {f"{kind} {what}" for kind in ("maths", "table")
               for what in re.findall(r'report\(`\$\{kind\} ([^`]+)`', PAGE_CHECKS)}
    tripped = set().union(*(_fixture_expectations(path, viewport) for path in FIXTURE_PAGES for viewport in VIEWPORTS))
    untested = checks - tripped - {"table needs a horizontal scroll"}  # tables may always scroll
    assert len(checks) >= 14 and not untested, f"checks with no broken page in {FIXTURES.name}/: {untested}"
    assert not _fixture_expectations(FIXTURES / "clean.html", "desktop")
    assert not _fixture_expectations(FIXTURES / "clean.html", "phone")


def test_site_chrome(site, browser):
    """The sidebar shows the whole title, every page has a favicon, and the bibliography's labels are
    author-year, sorted by author with corporate authors among the rest."""
    title = yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
    for name in (PAGES[0], PAGES[-2], PAGES[-1]):
        page, problems = _open(browser, f"{site}/{name}.html")
        try:
            brand = page.locator(".navbar-brand").first
            assert brand.inner_text().strip() == title, f"{name}: the sidebar shows {brand.inner_text()!r}"
            # wholly in view: the theme scrolls the sidebar to the current link on pages low in the toc
            hidden = page.evaluate("""() => {
                const brand = document.querySelector('.bd-sidebar-primary .navbar-brand');
                const sidebar = document.querySelector('.bd-sidebar-primary');
                const b = brand.getBoundingClientRect(), s = sidebar.getBoundingClientRect();
                const x = b.left + b.width / 2, y = b.top + 2;
                return b.top < s.top - 1 || b.bottom > s.bottom + 1 || b.width < 100 ||
                       !brand.contains(document.elementFromPoint(x, y));
            }""")
            assert not hidden, f"{name}: the sidebar's title is scrolled out of view or covered"
            assert page.locator("link[rel~='icon']").count() == 1, f"{name}: no favicon"
            assert not problems, "\n".join(problems)
        finally:
            page.close()
    page, _ = _open(browser, f"{site}/book/bibliography.html")
    try:
        labels = [label.strip("[] ") for label in page.locator(".citation .label, dt.label").all_inner_texts()]
        assert len(labels) > 40, f"expected the bibliography's entries, found {len(labels)} labels"
        bad = [label for label in labels if not re.fullmatch(r"[^\W\d][^+\[\]]* ((19|20)\d\d|n\.d\.)[a-z]?", label)]
        assert not bad, f"labels that are not author-year: {bad}"
        firsts = [re.sub(r"[^a-z]", "", label.split()[0].lower()) for label in labels]
        assert firsts == sorted(firsts), f"the bibliography is not sorted by author: {labels}"
        assert page.get_by_text("f-GAN", exact=False).count() > 0, "f-GAN lost its lower-case f"
    finally:
        page.close()


@pytest.mark.parametrize("name", [name for name in PAGES if name.startswith("chapters/")])
def test_figures_are_numbered_per_chapter(site, browser, name):
    page, _ = _open(browser, f"{site}/{name}.html")
    try:
        heading = page.locator("article h1").first.inner_text()
        number = re.match(r"\s*(\d+)\.?\s", heading)
        assert number, f"{name}: the title {heading!r} carries no chapter number (numbered: true in _toc.yml)"
        captions = page.locator(".caption-number").all_inner_texts()
        wrong = [c for c in captions if not re.match(rf"(Fig|Table|Listing)\.? {number.group(1)}\.\d+", c.strip())]
        assert not wrong, f"{name}: captions numbered across the book, not per chapter: {wrong}"
    finally:
        page.close()


@pytest.mark.parametrize("index", range(len(PAGES) - 1), ids=PAGES[:-1])
def test_next_link_leads_to_the_next_page(site, browser, index):
    page, problems = _open(browser, f"{site}/{PAGES[index]}.html")
    try:
        page.locator("a.right-next").first.click()
        page.wait_for_load_state("load")
        assert page.url.split("#")[0] == f"{site}/{PAGES[index + 1]}.html"
        assert not problems, "\n".join(problems)
    finally:
        page.close()


CHAPTERS = [name for name in PAGES if name.startswith("chapters/")]


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_has_an_open_in_colab_link_to_its_notebook(site, browser, name):
    page, _ = _open(browser, f"{site}/{name}.html")
    try:
        repo = repository_url().removeprefix("https://github.com/")
        expected = f"https://colab.research.google.com/github/{repo}/blob/main/{name}.ipynb"
        hrefs = page.eval_on_selector_all("a[href*='colab.research.google.com']", "links => links.map(a => a.href)")
        assert expected in hrefs, f"{name}: expected a Colab link {expected}, found {hrefs}"
    finally:
        page.close()


def test_every_toc_page_is_tested():
    assert len(PAGES) >= 8 and all((ROOT / f"{name}.ipynb").exists() or (ROOT / f"{name}.md").exists()
                                   for name in PAGES)
