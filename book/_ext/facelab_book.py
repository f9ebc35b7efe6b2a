"""Small fixes to how Jupyter Book 1 renders pages, found by the browser test (tests/test_book_browser.py).

* sphinx-thebe adds its configuration script once per reading pass, so a page that declares
  ``const THEBE_JS_URL`` twice throws "Identifier 'THEBE_JS_URL' has already been declared" in every
  browser. Each page keeps one copy of each script.
* pydata-sphinx-theme logs "Got invalid theme mode" on a reader's first visit unless a default colour
  mode is set. The book uses the light mode: its figures are drawn on white.
* tqdm's notebook progress bar is an ipywidget. The static book has no widget state, so it would be an empty
  box, and its text/plain fallback is the bar as it was drawn at 0 %: such an output is dropped.
* The bibliography's author-year style (``facelab_bibstyle``) and the book's stylesheet (``book/_static``:
  long inline code wraps on a phone, wide tables and, on a phone, display maths scroll in their own box).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

import facelab_bibstyle

STATIC = Path(__file__).resolve().parents[1] / "_static"
WIDGET_MIME_TYPES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")


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


class DropWidgetOutputs(SphinxPostTransform):
    """Remove every output that is an ipywidget (tqdm's bar), before myst-nb picks a mime type to show."""

    default_priority = 3  # myst-nb's SelectMimeType runs at 4

    def run(self, **kwargs: Any) -> None:
        def is_bundle(node) -> bool:
            return isinstance(node, nodes.container) and node.get("nb_element") == "mime_bundle"

        for bundle in list(self.document.findall(is_bundle)):
            if any(child.get("mime_type") in WIDGET_MIME_TYPES for child in bundle.children):
                parent = bundle.parent
                parent.remove(bundle)
                if isinstance(parent, nodes.container) and not parent.children and parent.parent is not None:
                    parent.parent.remove(parent)


def add_static_files(app) -> None:
    app.config.html_static_path.append(str(STATIC))
    app.add_css_file("facelab.css")


def setup(app):
    facelab_bibstyle.register()
    app.add_post_transform(DropWidgetOutputs)
    app.connect("builder-inited", add_static_files)
    app.connect("html-page-context", default_light_mode)
    app.connect("html-page-context", dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
