"""Looking at a page as a browser does: headless Chromium's DOM, and a page's parts.

Reports and the health page are checked in the DOM Chromium builds from them
(:func:`browser_dom`), not only in the text orderkit wrote: :class:`PageParts` lists the
elements, attribute names and visible text of either.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["PageParts", "browser_dom", "find_chromium"]


def find_chromium() -> str | None:
    """The Chromium executable on the ``PATH`` (``chromium`` or ``chromium-browser``)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_dom(chromium: str, page: Path, profile: Path) -> str:
    """The DOM headless ``chromium`` builds from ``page`` (a file), with its profile in
    ``profile`` (an empty folder)."""
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, encoding="utf-8", timeout=120, check=True,
    )
    return done.stdout


class PageParts(HTMLParser):
    """The elements, attribute names and text (outside ``<style>``) of a page, as a
    browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.chunks: list[str] = []
        self._skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.update(name for name, _ in attrs)
        if tag == "style":
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)

    @property
    def text(self) -> str:
        """The visible text, joined."""
        return "".join(self.chunks)
