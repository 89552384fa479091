"""The rendered docs in headless Chromium: nothing is cut at 1280 px, the copy button copies code.

Builds the HTML docs once (the pure twin, as CI does) and drives them with
``docs/_tools/screenshots.py``.  Needs the ``docs`` and ``docs-check`` extras
and a Chromium (the system's ``chromium``, or ``playwright install chromium``);
without them the tests skip, unless ``HASHLB_DOCS_CHECK=1`` (as in ``.ci/run``'s
docs step), where a missing piece is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "docs" / "_tools"

sys.path.insert(0, str(TOOLS))
try:
    import screenshots
finally:
    sys.path.pop(0)


def _missing() -> str | None:
    for module in ("sphinx", "furo", "sphinx_copybutton", "sphinxcontrib.programoutput"):
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            found = None
        if found is None:
            return f"{module} is not installed (pip install '.[docs]')"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install '.[docs-check]')"
    if screenshots.default_chromium() is None:
        return "no chromium on PATH (apt-get install chromium, or playwright install chromium)"
    return None


@pytest.fixture(scope="module")
def chromium() -> str | None:
    missing = _missing()
    if missing:
        if os.environ.get("HASHLB_DOCS_CHECK") == "1":
            pytest.fail(f"HASHLB_DOCS_CHECK=1 but {missing}")
        pytest.skip(missing)
    return screenshots.default_chromium()


@pytest.fixture(scope="module")
def html(chromium: str | None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    env = dict(os.environ, HASHLB_NO_EXTENSIONS="1")
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "docs",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_probe_tells_cut_from_scrolling(chromium: str | None, tmp_path: Path) -> None:
    """The detector itself, on a page with one element of each kind."""
    long = "x" * 400
    (tmp_path / "page.html").write_text(
        "<html><body style='margin:0'>"
        f"<pre id=hidden style='width:300px;overflow-x:hidden'>{long}</pre>"
        f"<pre id=scrolls style='width:300px;overflow-x:auto'>{long}</pre>"
        f"<div style='width:300px;overflow:hidden'><table><tr><td>{long}</td></tr></table></div>"
        "<pre style='width:300px'>fits</pre>"
        "</body></html>"
    )
    (report,) = screenshots.check(tmp_path, pages=["page.html"], chromium=chromium)
    assert len(report.scrolls) == 1 and report.scrolls[0].startswith("pre"), report
    assert any("content hidden" in c and c.startswith("pre") for c in report.cut), report
    assert any(c.startswith("table") and "clipped by div" in c for c in report.cut), report
    assert not any("page:" in c for c in report.cut), report
    (tmp_path / "wide.html").write_text(f"<html><body><div style='width:3000px'>{long}</div>")
    (wide,) = screenshots.check(tmp_path, pages=["wide.html"], chromium=chromium)
    assert [c for c in wide.cut if c.startswith("page:")], wide


def test_nothing_is_cut_at_1280_px(chromium: str | None, html: Path, tmp_path: Path) -> None:
    reports = screenshots.check(html, width=1280, shots=tmp_path, chromium=chromium)
    assert len(reports) >= 30, [r.page for r in reports]
    cut = [f"{r.page}: {c}" for r in reports for c in r.cut]
    assert cut == [], "\n".join(cut)
    # the CLI prints 100 columns by default: a code block shows them all
    narrow = {r.page: r.columns for r in reports if r.columns is not None and r.columns < 100}
    assert narrow == {}, narrow
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "benchmarks.png" in shots and "tutorial-simulate-your-mesh.png" in shots, shots


def test_copy_button_copies_the_commands_not_the_prompts(chromium: str | None, html: Path) -> None:
    session = screenshots.copied_texts(html, "tutorial/simulate-your-mesh.html", chromium=chromium)
    commands = [t for t in session if t.startswith("hashlb ")]
    assert commands and commands[0] == "hashlb simulate -f examples/istio-canary/", session
    pycon = screenshots.copied_texts(html, "how-to/choose-a-hash-key.html", chromium=chromium)
    code = [t for t in pycon if "import" in t]
    assert code and code[0].startswith("from hashlb import"), pycon
    for text in code:
        assert ">>>" not in text and "\n... " not in text, text
        assert "\nTrue" not in text and "\nFalse" not in text, text  # output lines stay out
