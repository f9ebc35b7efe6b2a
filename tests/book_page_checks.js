// What a reader must never see on a page of the book. Run in the page by tests/test_book_browser.py
// (page.evaluate(source, options)); returns a list of {check, detail}. Each check has a broken page in
// tests/book_fixtures/ that it must flag. options: {desktop: bool, expectLivePlot: bool, buildPaths: [str]}.
(options) => {
  const found = [];
  const report = (check, detail) => found.push({check, detail: String(detail).slice(0, 300)});
  const article = document.querySelector("article") || document.querySelector("main") || document.body;
  const describe = (el) => {
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 80);
    return `<${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? "." +
      el.className.trim().split(/\s+/).join(".") : ""}> "${text}"`;
  };

  // The text a reader reads: the article without code (cell sources, code blocks, inline code) or maths.
  const SKIP = "pre, code, .cell_input, div.highlight, mjx-container, script, style, .MathJax, svg";
  const proseNodes = [];
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement && !node.parentElement.closest(SKIP)) proseNodes.push(node);
  }
  const prose = proseNodes.map((n) => n.textContent).join(" ");
  // Outputs (printed text included), without the cells' source code.
  const outputs = [...article.querySelectorAll(".cell_output")].map((el) => el.innerText).join("\n");
  const shown = prose + "\n" + outputs;

  // 1. a Markdown table that was not rendered: "| a | b |" rows or a "| --- |" / "| — |" separator
  const tableSource = /\|\s*:?[-\u2014\u2013]{1,}:?\s*\|/;
  const pipeRow = /(^|\n)\s*\|[^|\n]+\|[^|\n]+\|/;
  for (const text of [prose, outputs]) {
    const match = text.match(tableSource) || text.match(pipeRow);
    if (match) { report("raw markdown table", match[0]); break; }
  }

  // 2. an output that is only a bare number or quoted string (a return value nobody printed on purpose)
  for (const el of article.querySelectorAll(".cell_output .output.text_plain, .cell_output .output.text_markdown")) {
    const text = el.innerText.trim();
    if (/^(['"]).*\1$/s.test(text) || /^[-+]?[\d,_]*\.?\d+(e[-+]?\d+)?%?$/i.test(text) ||
        /^(None|True|False)$/.test(text)) {
      report("stray output", text);
    }
  }
  for (const el of article.querySelectorAll(".cell_output > .text_html, .cell_output > p")) {
    const text = el.innerText.trim();
    if (text && text.length < 40 && !el.querySelector("img, table, svg") && /^[\w\s,.'"%-]+$/.test(text) &&
        !/\s\w+\s\w+\s\w+/.test(text) && el.closest(".cell_output").children.length === 1) {
      report("stray output", text);
    }
  }

  // 3. a path of the machine that built the book
  const machinePath = /(?:^|[\s'"(=:\[])((?:\/(?:home|tmp|work|Users|root|var|opt|srv|mnt|builds?|runner|private)\/[^\s'")\]]+)|(?:[\w.~\/-]*_build\/[^\s'")\]]*)|[A-Z]:\\[^\s'"]+)/;
  const pathMatch = shown.match(machinePath);
  if (pathMatch) report("machine path", pathMatch[1]);
  for (const path of options.buildPaths || []) {
    if (path && shown.includes(path)) report("machine path", path);
  }

  // 4. NumPy / torch reprs instead of numbers
  const repr = shown.match(/\b(?:np|numpy)\.(?:float|int|uint|bool|complex|str)\w*\(|\btensor\(\[*[-\d.]|grad_fn=</);
  if (repr) report("numpy repr", repr[0]);

  // 5. literal Markdown emphasis markers in the prose
  const emphasis = prose.match(/(?:^|[\s(\[])(\*{1,2}|_{1,2})[A-Za-z][^*_\n]{0,60}?[A-Za-z.]\1(?=[\s.,;:)!?\]]|$)/);
  if (emphasis) report("literal emphasis", emphasis[0].trim());

  // 6. maths or a table wider than its column: clipped, or (maths on a desktop) needing to scroll.
  //    A table may scroll in a deliberate scroller (overflow-x auto/scroll); maths may only on a phone.
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const clips = (el) => ["hidden", "clip"].includes(getComputedStyle(el).overflowX);
  const stop = article.parentElement;
  const checkWidth = (el, kind, scrollAllowed) => {
    for (let node = el; node && node !== stop; node = node.parentElement) {
      if (node.scrollWidth > node.clientWidth + 1) {
        if (scrolls(node)) {
          if (!scrollAllowed) report(`${kind} needs a horizontal scroll`, describe(el));
          return;
        }
        const beyond = node !== article || el.getBoundingClientRect().right > article.getBoundingClientRect().right + 1;
        if ((clips(node) || node === article) && beyond) {
          report(`${kind} wider than its column`, `${describe(el)}: ${node.scrollWidth}px in ${node.clientWidth}px`);
          return;
        }
      }
      if (node === article) return;
    }
  };
  const columnRight = article.getBoundingClientRect().right;
  for (const el of article.querySelectorAll("mjx-container")) {
    if (el.getAttribute("display") === "true") checkWidth(el, "maths", !options.desktop);
    // inline maths: a glyph may overhang its own box by a few pixels; it must not pass the column's edge
    else if (el.getBoundingClientRect().right > columnRight + 1 && !el.closest("table")) {
      report("maths wider than its column", describe(el));
    }
  }
  for (const el of article.querySelectorAll("table")) checkWidth(el, "table", true);

  // 7. the page itself scrolls sideways
  const pageWidth = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  if (pageWidth > window.innerWidth + 1) {
    const wide = [...document.body.querySelectorAll("*")].filter((el) => el.getBoundingClientRect().right >
      window.innerWidth + 1 && !el.closest("[aria-hidden=true], .bd-sidebar-primary, .bd-sidebar-secondary"));
    report("page wider than the viewport", `${pageWidth}px > ${window.innerWidth}px; e.g. ` +
      wide.slice(-3).map(describe).join("; "));
  }

  // 8. a figure shrunk so far that its text is unreadable (desktop: the page's width is the figure's width)
  if (options.desktop) {
    for (const img of article.querySelectorAll("img")) {
      if (!img.naturalWidth || img.closest(".no-text")) continue;
      const ratio = img.getBoundingClientRect().width / img.naturalWidth;
      if (ratio < 0.6) {
        report("figure drawn too small", `${img.getAttribute("src").slice(0, 60)}: ${Math.round(ratio * 100)}% ` +
          `of its ${img.naturalWidth}px`);
      }
    }
  }

  // 9. a live plot whose stored frame is not the last step
  const frames = [...article.querySelectorAll("[data-live-step]")];
  for (const frame of frames) {
    const step = frame.getAttribute("data-live-step"), total = frame.getAttribute("data-live-total");
    if (!total || Number(step) !== Number(total)) {
      report("live plot not at its last step", `step ${step} of ${total || "an unknown total"}`);
    }
  }
  if (options.expectLivePlot && !frames.length) report("live plot not at its last step", "no live plot frame");

  // 10. a notebook widget the static page cannot show (tqdm's bar), or a progress bar left unfinished
  if (article.querySelector("script[type*='jupyter.widget-view']")) {
    report("widget placeholder", describe(article.querySelector("script[type*='jupyter.widget-view']").parentElement));
  }
  const bar = outputs.match(/(?:^|\s)(\d{1,2}(?:\.\d)?)%\|[^\n]*\|/);
  if (bar) report("unfinished progress bar", bar[0].trim());
  for (const el of article.querySelectorAll(".cell_output")) {
    if (!el.innerText.trim() && !el.querySelector("img, svg, canvas, iframe, table, mjx-container")) {
      report("empty output", describe(el.parentElement));
    }
  }
  return found;
}
