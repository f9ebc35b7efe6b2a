"""Small fixes to how Jupyter Book 1 renders pages, found by the browser test (tests/test_book_browser.py).

* sphinx-thebe adds its configuration script once per reading pass, so a page that declares
  ``const THEBE_JS_URL`` twice throws "Identifier 'THEBE_JS_URL' has already been declared" in every
  browser. Each page keeps one copy of each script.
* pydata-sphinx-theme logs "Got invalid theme mode" on a reader's first visit unless a default colour
  mode is set. The book uses the light mode: its figures are drawn on white.
"""

from __future__ import annotations

from typing import Any


def _script_key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated script tags (same file or same inline body) from a page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def default_light_mode(app, pagename, templatename, context, doctree) -> None:
    """The page template's ``default_mode`` (empty unless set), used until the reader picks a mode."""
    if not context.get("default_mode"):
        context["default_mode"] = "light"


def setup(app):
    app.connect("html-page-context", default_light_mode)
    app.connect("html-page-context", dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
