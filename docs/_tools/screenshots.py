"""Render the built HTML docs in headless Chromium and find cut-off content.

Usage, from the repository root, after building the HTML docs::

    python -m sphinx -b html docs /tmp/hashlb-html
    python docs/_tools/screenshots.py /tmp/hashlb-html --out /tmp/hashlb-shots

Every page is loaded at 1280 x 900 CSS pixels (``--width``).  An element is
*cut* when part of it cannot be seen, scrolling or not:

* a ``pre``, table, image or code block whose content is wider than its box
  while its ``overflow-x`` hides the rest (``hidden`` / ``clip``);
* such an element that sticks out of an ancestor that clips without a
  scroll bar;
* a page wider than the window (the whole page scrolls sideways).

Content that is wider than its box but scrolls (``overflow-x: auto``) is not
cut; it is counted as ``scrolls``.  The report also says how many columns of
code a code block shows without scrolling (``hashlb`` output fits 100).  ``--shots`` saves a full-page PNG of the
wide pages (CLI output, the benchmark tables, the reference pages) to look
at.  Prints one line per cut element and exits 1 if there is any.

Needs ``playwright`` (the ``docs-check`` extra) and a Chromium: the one of
``playwright install chromium``, or the system's (``--chromium``, default
``/usr/bin/chromium`` when it exists).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The pages with wide content, screenshotted with ``--shots``.
WIDE_PAGES = (
    "benchmarks.html",
    "tutorial/simulate-your-mesh.html",
    "tutorial/simulate-from-a-config-dump.html",
    "reference/cli.html",
    "reference/subsets.html",
    "reference/policy.html",
    "reference/maglev.html",
    "reference/ring.html",
    "explanation/envoy-compatibility.html",
    "explanation/performance-model.html",
)

#: Runs in the page: returns the cut and the scrolling elements.
_PROBE = r"""
() => {
  const sel = "pre, table, img, div.highlight, .table-wrapper, dl.py, svg";
  const cut = [], scrolls = [];
  const name = (el) => {
    const text = (el.innerText || el.getAttribute("alt") || "").trim().split("\n")[0];
    return el.tagName.toLowerCase() + (el.className ? "." + String(el.className).split(" ")[0] : "")
      + " '" + text.slice(0, 60) + "'";
  };
  const hides = (v) => v === "hidden" || v === "clip";
  for (const el of document.querySelectorAll(sel)) {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      if (hides(style.overflowX)) cut.push(name(el) + ": content hidden (overflow-x " + style.overflowX + ")");
      else if (style.overflowX === "auto" || style.overflowX === "scroll") scrolls.push(name(el));
    }
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === "visible") continue;
      if (hides(s.overflowX)) {
        const ar = a.getBoundingClientRect();
        if (r.right > ar.right + 1 || r.left < ar.left - 1)
          cut.push(name(el) + ": clipped by " + name(a));
      }
      break;  // a scrolling ancestor: the element can be scrolled to
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    cut.push("page: " + doc.scrollWidth + " px wide in a " + window.innerWidth + " px window");
  // how many columns of code a code block of this page shows without scrolling
  let columns = null;
  const pre = document.querySelector("div.highlight pre");
  if (pre) {
    const probe = document.createElement("span");
    probe.textContent = "x".repeat(100);
    pre.appendChild(probe);
    const cs = getComputedStyle(pre);
    const inner = pre.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    columns = Math.floor(inner / (probe.getBoundingClientRect().width / 100));
    probe.remove();
  }
  return {cut, scrolls, columns};
}
"""


#: Runs in the page: clicks every copy button and returns what each put on the clipboard.
_COPY = r"""
async () => {
  const copied = [];
  const exec = document.execCommand.bind(document);
  document.execCommand = (cmd, ...rest) => {
    if (cmd !== "copy") return exec(cmd, ...rest);
    const el = document.activeElement;
    copied.push(el && "value" in el ? el.value : String(getSelection()));
    return true;
  };
  if (navigator.clipboard) navigator.clipboard.writeText = async (text) => { copied.push(text); };
  for (const button of document.querySelectorAll("button.copybtn")) button.click();
  await new Promise((done) => setTimeout(done, 50));
  return copied;
}
"""


@dataclass
class PageReport:
    """What the probe found on one page."""

    page: str
    cut: list[str]
    scrolls: list[str]
    #: columns of code a code block shows without scrolling (None: no code block)
    columns: int | None = None


def default_chromium() -> str | None:
    """Return a system Chromium to drive, or None for playwright's own."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def _page(chromium: str | None, width: int, height: int) -> Iterator[Any]:
    """Yield a page of a headless Chromium (*chromium*, or playwright's own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        kwargs: dict[str, object] = {"args": ["--no-sandbox"]}
        if chromium:
            kwargs["executable_path"] = chromium
        browser = pw.chromium.launch(**kwargs)  # type: ignore[arg-type]
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def check(
    html: Path,
    *,
    width: int = 1280,
    height: int = 900,
    pages: list[str] | None = None,
    shots: Path | None = None,
    chromium: str | None = None,
) -> list[PageReport]:
    """Load every page of *html* (or *pages*) and return what the probe found."""
    names = pages or sorted(
        str(p.relative_to(html))
        for p in html.rglob("*.html")
        if not {"_modules", "_sources", "_static"} & set(p.relative_to(html).parts)
        and p.name not in {"genindex.html", "search.html", "py-modindex.html"}
    )
    reports = []
    with _page(chromium, width, height) as page:
        for name in names:
            page.goto((html / name).resolve().as_uri(), wait_until="load")
            found = page.evaluate(_PROBE)
            reports.append(PageReport(name, found["cut"], found["scrolls"], found["columns"]))
            if shots is not None and name in WIDE_PAGES:
                out = shots / (name.replace("/", "-").removesuffix(".html") + ".png")
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
    return reports


def copied_texts(
    html: Path, page_name: str, *, chromium: str | None = None, width: int = 1280
) -> list[str]:
    """Return what each copy button of *page_name* copies, in page order."""
    with _page(chromium, width, 900) as page:
        page.goto((html / page_name).resolve().as_uri(), wait_until="load")
        return list(page.evaluate(_COPY))


def main(argv: list[str] | None = None) -> int:
    """Check the built docs; return 1 if anything is cut."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path, help="the built HTML directory")
    ap.add_argument("--out", type=Path, help="save full-page PNGs of the wide pages here")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--page", action="append", help="only this page (repeatable)")
    ap.add_argument("--chromium", default=default_chromium(), help="the Chromium to drive")
    ap.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = ap.parse_args(argv)
    reports = check(
        args.html, width=args.width, pages=args.page, shots=args.out, chromium=args.chromium
    )
    if args.json:
        print(json.dumps([r.__dict__ for r in reports], indent=1))
    cut = 0
    for r in reports:
        for what in r.cut:
            print(f"{r.page}: CUT {what}")
            cut += 1
    scrolling = sum(len(r.scrolls) for r in reports)
    columns = min((r.columns for r in reports if r.columns is not None), default=None)
    print(
        f"{len(reports)} pages at {args.width} px: {cut} cut, {scrolling} scroll sideways, "
        f"code blocks show {columns} columns"
    )
    return 1 if cut else 0


if __name__ == "__main__":
    sys.exit(main())
