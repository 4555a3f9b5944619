"""The review's HTML page in a real headless Chromium: it loads, and the outline, flags, coverage,
witnesses, lint, diff and impact are in the DOM the browser built; a screenshot and a PDF are saved.

The page reviews the shipped draft against 08.24 (so it has flags, changes and moved requests).
Skipped only where Chromium is absent outside CI; with CI=true a missing browser fails.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from authoring_util import CASES, POLICY_TEXT

from reasoner.cli import app

BROWSERS = ("chromium", "chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed, and CI must run the browser test (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return found


class Dom(HTMLParser):
    """Elements by id, rows per table id, and every URL-carrying attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.rows: dict[str, int] = {}
        self.urls: list[str] = []
        self._table: list[str | None] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "table":
            self._table.append(a.get("id"))
        if tag == "tr" and self._table and self._table[-1]:
            self.rows[self._table[-1]] = self.rows.get(self._table[-1], 0) + 1
        for key in ("src", "href", "srcset", "data", "poster"):
            if a.get(key):
                self.urls.append(a[key])

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()

    def handle_data(self, data):
        self.text.append(data)


def run(cmd: list[str], tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    result = subprocess.run(cmd[:1] + FLAGS + [f"--user-data-dir={profile}"] + cmd[1:],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    if not POLICY_TEXT.is_file():
        pytest.skip("the shared policy text is not beside the checkout")
    out = tmp_path_factory.mktemp("review") / "review.html"
    result = CliRunner().invoke(app, [
        "review", "--version", "draft-2025", "--compare", "2024-08", "--policy-text", str(POLICY_TEXT),
        "--cases", str(CASES), "--request-date", "2026-06-01", "--no-hermit", "--no-shacl-shacl",
        "--html", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_page_is_self_contained(page):
    html = page.read_text(encoding="utf-8")
    dom = Dom()
    dom.feed(html)
    assert all(u.startswith("#") for u in dom.urls), [u for u in dom.urls if not u.startswith("#")]
    assert not re.search(r"@import|url\(|<script|<link|<img|<iframe", html, re.IGNORECASE)
    assert "@media print" in html


def test_chromium_renders_the_review(page, tmp_path):
    """One browser run builds the DOM (printed), takes the screenshot and prints the PDF: a start of
    Chromium is seconds, each of the three is the same page loaded once."""
    exe = browser()
    shot, pdf = tmp_path / "review.png", tmp_path / "review.pdf"
    dom_text = run([exe, "--window-size=1366,2400", "--hide-scrollbars", "--no-pdf-header-footer", "--dump-dom",
                    f"--screenshot={shot}", f"--print-to-pdf={pdf}", page.as_uri()], tmp_path).stdout
    dom = Dom()
    dom.feed(dom_text)
    for section in ("outline", "flags", "coverage", "witnesses", "lint", "diff", "impact", "summary"):
        assert section in dom.ids, section
    text = " ".join(dom.text)
    # the outline has a row per criterion, each linked by its number
    assert "c-I.A.4.c.iii" in dom.ids and "c-II.A.3.b" in dom.ids
    # flags: the draft's threshold against the 08.24 text
    assert "words differ" in text and "Dose does not exceed 21 mcg per day;" in text
    assert dom.rows["coverage-table"] > 20 and dom.rows["witness-table"] > 5
    assert dom.rows["impact-table"] > 1 and "I.A.5.a: met -> not-met" in text
    assert "maxInclusive: 28 -> 21" in text

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") > 2
    print(f"\nscreenshot: {shot}\nprinted: {pdf}")
