"""Every relative link in the course must lead somewhere.

Checked: the markdown cells of every notebook in lessons/ and solutions/, and
README.md. For each link or image (markdown syntax, reference links, and raw
HTML ``<a href>`` / ``<img src>``):

* a relative path must name an existing file or folder (resolved from the
  folder of the file that holds the link);
* a ``#fragment`` pointing into a notebook or a markdown file (the same file or
  another) must name one of its headings, or an explicit ``id``/``name`` in its
  HTML;
* http(s) links are only checked for well-formedness: the tests use no network.

Heading anchors follow JupyterLab's rule (``createHeaderId`` in
@jupyterlab/rendermime): the heading's rendered *text* (markdown formatting
gone, so ``## The `wait` idiom`` gives "The wait idiom") with each space
replaced by "-"; case and punctuation are kept, e.g. ``#Exercise-2:-the-wait-idiom``.
Markdown files (README.md) are mostly read on a forge, so for them GitHub's
rule (lower case, punctuation dropped) is accepted as well.
"""

import html
import json
import re
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import mistune
import pytest

REPO = Path(__file__).resolve().parents[1]



class _Renderer(mistune.HTMLRenderer):
    """mistune's HTML renderer, but keeping every URL exactly as written (mistune would
    percent-encode it, and replace one whose fragment holds a ':' by '#harmful-link')."""

    def sanitize_url(self, url):
        return url


_render = mistune.create_markdown(escape=False, renderer=_Renderer(escape=False), plugins=["strikethrough", "table", "url"])


class _Collector(HTMLParser):
    """Pulls links, explicit ids and heading texts out of rendered markdown."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.ids = []
        self.headings = []
        self._heading_depth = 0
        self._heading_text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href") is not None:
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src") is not None:
            self.links.append(attrs["src"])
        for key in ("id", "name"):
            if attrs.get(key) and tag in ("a", "div", "span", "section", "h1", "h2", "h3", "h4", "h5", "h6", "p"):
                self.ids.append(attrs[key])
        if re.fullmatch(r"h[1-6]", tag):
            self._heading_depth += 1
            if self._heading_depth == 1:
                self._heading_text = []

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag) and self._heading_depth:
            self._heading_depth -= 1
            if self._heading_depth == 0:
                self.headings.append("".join(self._heading_text).strip())

    def handle_data(self, data):
        if self._heading_depth:
            self._heading_text.append(data)


def parse_markdown(text):
    """Return (links, anchors_jupyterlab, anchors_github) for one markdown text."""
    collector = _Collector()
    collector.feed(_render(text))
    collector.close()
    headings = [html.unescape(h) for h in collector.headings]
    jlab = {h.replace(" ", "-") for h in headings} | set(collector.ids)
    github = {github_slug(h) for h in headings} | set(collector.ids)
    return collector.links, jlab, github


def github_slug(heading):
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def markdown_sources(path):
    """The markdown texts of a file: each markdown cell of a notebook, or the whole .md file."""
    path = Path(path)
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        out = []
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                src = cell.get("source", "")
                out.append("".join(src) if isinstance(src, list) else src)
        return out
    return [path.read_text(encoding="utf-8")]


_anchor_cache = {}


def anchors_of(path):
    """Anchors a link may target in a notebook or markdown file."""
    path = Path(path).resolve()
    if path not in _anchor_cache:
        jlab, github = set(), set()
        for text in markdown_sources(path):
            _, j, g = parse_markdown(text)
            jlab |= j
            github |= g
        _anchor_cache[path] = jlab | github if path.suffix == ".md" else jlab
    return _anchor_cache[path]


_URL_OK = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/[^\s<>\"]*)?$")


def check_file(path):
    """Return a list of human-readable problems with the links in ``path``."""
    path = Path(path).resolve()
    problems = []
    for index, text in enumerate(markdown_sources(path)):
        where = f"markdown cell {index}" if path.suffix == ".ipynb" else "text"
        links, _, _ = parse_markdown(text)
        for link in links:
            problem = check_link(path, link)
            if problem:
                problems.append(f"{where}: {link!r}: {problem}")
    return problems


def check_link(path, link):
    """Return why ``link`` (found in the file ``path``) is broken, or None."""
    link = link.strip()
    if not link:
        return "empty link"
    scheme = urllib.parse.urlsplit(link).scheme.lower()
    if scheme in ("http", "https"):
        return None if _URL_OK.match(link) else "malformed URL"
    if scheme in ("mailto", "data"):
        return None
    if scheme:
        return f"unexpected scheme {scheme!r} (use a relative path or http(s))"
    target, _, fragment = link.partition("#")
    target = urllib.parse.unquote(target.split("?", 1)[0])
    if target.startswith("/"):
        return "absolute path: use a path relative to this file"
    dest = (path.parent / target).resolve() if target else path
    if not dest.exists():
        return f"no such file: {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}"
    if fragment and dest.suffix in (".ipynb", ".md"):
        anchors = anchors_of(dest)
        if fragment not in anchors and urllib.parse.unquote(fragment) not in anchors:
            return f"no heading with anchor #{fragment} in {dest.name}"
    return None


def course_files():
    files = sorted((REPO / "lessons").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))
    if (REPO / "README.md").exists():
        files.append(REPO / "README.md")
    return files


@pytest.mark.parametrize("path", course_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_links_resolve(path):
    problems = check_file(path)
    assert not problems, f"broken links in {path.relative_to(REPO)}:\n  " + "\n  ".join(problems)


def test_there_are_files_to_check():
    assert course_files(), "no notebooks or README.md found: the link check would check nothing"


# --- the checker itself ----------------------------------------------------


def write_nb(path, *markdown_cells):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": src} for src in markdown_cells]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_checker_accepts_good_links(tmp_path):
    (tmp_path / "img.png").write_bytes(b"")
    write_nb(
        tmp_path / "b.ipynb",
        "# Tasks revisited\n## Exercise 2: the `wait` idiom\n<a id=\"custom\"></a>",
    )
    write_nb(
        tmp_path / "a.ipynb",
        "## Part 1 — *Crash* course\nSee [below](#Part-1-—-Crash-course), [b](b.ipynb), "
        "[ex](b.ipynb#Exercise-2:-the-wait-idiom), [c](b.ipynb#custom), ![p](img.png), "
        "<img src=\"img.png\">, [web](https://ui.perfetto.dev) and [ref][r].\n\n[r]: b.ipynb#Tasks-revisited",
        "```\n[inside a code block](missing.ipynb)\n```\nand `[code](missing.ipynb)`",
    )
    assert check_file(tmp_path / "a.ipynb") == []


def test_checker_reports_each_broken_link(tmp_path):
    write_nb(tmp_path / "b.ipynb", "# Only heading")
    write_nb(
        tmp_path / "a.ipynb",
        "# Title\n[gone](missing.ipynb) [bad anchor](b.ipynb#No-such-heading) "
        "[self](#title) ![img](../nope.png) [url](http:/one-slash.example.com) [abs](/etc/passwd)",
    )
    problems = check_file(tmp_path / "a.ipynb")
    assert len(problems) == 6, problems
    text = "\n".join(problems)
    assert "no such file" in text and "missing.ipynb" in text
    assert "#No-such-heading" in text
    assert "#title" in text  # JupyterLab keeps case: the anchor is #Title
    assert "nope.png" in text
    assert "malformed URL" in text
    assert "absolute path" in text


def test_markdown_files_also_accept_github_anchors(tmp_path):
    (tmp_path / "README.md").write_text("# My Project!\n## Run the tests\n[a](#run-the-tests) [b](#My-Project!) [c](#nope)\n")
    problems = check_file(tmp_path / "README.md")
    assert len(problems) == 1 and "#nope" in problems[0]
