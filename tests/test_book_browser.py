"""The rendered book, opened page by page in a real browser (headless Chromium through Playwright).

Serves the built HTML (``_build/html``, or ``$FACELAB_BOOK_HTML``) on localhost and checks, for every page in
``_toc.yml``: no console errors or uncaught exceptions, no request that fails or leaves localhost, every
image loaded, the maths typeset by MathJax without errors, the "next" link leading to the next page of the
table of contents, and on chapter pages an "Open in Colab" link to that notebook in the repository.
(Chromium asks every site for ``/favicon.ico``; the book has none, and that one 404 is not counted.)
A full-page screenshot of each page goes to ``_build/screenshots/``.

``make test`` builds the book first and sets ``FACELAB_BOOK_HTML``, so a missing build fails there; a plain
``pytest tests`` without a build skips these tests and says how to build.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def site():
    """The built book served on a free localhost port; yields its base URL."""
    html = book_html()
    if not (html / "index.html").exists():
        if os.environ.get(HTML_ENV):
            pytest.fail(f"{HTML_ENV}={html} holds no built book (no index.html): run `make build` first.")
        pytest.skip(f"no built book in {html}: run `make build` (or `make test`, which builds it) first")
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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


def _open(browser, url: str):
    """Open ``url`` and collect what went wrong: console errors, page errors, failed or outside requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)

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


@pytest.mark.parametrize("index", range(len(PAGES)), ids=PAGES)
def test_page_renders_in_a_browser(site, browser, index):
    name = PAGES[index]
    page, problems = _open(browser, f"{site}/{name}.html")
    try:
        assert page.title() and "404" not in page.title(), f"{name}: no such page in the build"
        # maths: MathJax (served from the book itself) typesets every formula, and none is an error
        source = (ROOT / f"{name}.ipynb") if (ROOT / f"{name}.ipynb").exists() else ROOT / f"{name}.md"
        has_maths = _has_maths(source.read_text())
        if page.locator("script[src*='mathjax']").count():
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=15000)
            page.evaluate("() => MathJax.startup.promise")
        if has_maths:
            assert page.locator("mjx-container").count() > 0, f"{name}: the page has maths but none was typeset"
        assert page.locator("mjx-merror").count() == 0, f"{name}: MathJax could not typeset a formula"
        # images: every one loaded (scroll through the page so lazy images load too)
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_load_state("networkidle")
        broken = page.evaluate("""() => Promise.all([...document.images].map(img => img.decode().then(
            () => img.naturalWidth > 0 ? null : img.src, () => img.src))).then(list => list.filter(Boolean))""")
        assert not broken, f"{name}: images that did not load: {broken}"
        shots = book_html().parent / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{Path(name).name}.png"), full_page=True)
        assert not problems, f"{name}: " + "\n".join(problems)
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
