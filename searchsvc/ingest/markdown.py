"""Markdown as static-site generators write it: YAML front matter for the metadata, and a
body rendered to the plain text a reader sees (no ``**``, no ``[..](..)``), headings kept as
passages of their own.

The front matter is read by python-frontmatter with YAML 1.2 booleans (only ``true`` and
``false``), so that a French title "Non" or "Oui" stays text, and dates left as text for
:mod:`searchsvc.ingest.dates`; the body is parsed by
markdown-it-py (CommonMark, with tables and strikethrough) and its tokens turned into text:
links keep their text, images their alt text, code its content.
"""

from __future__ import annotations

import re

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler
from markdown_it import MarkdownIt
from markdown_it.token import Token

from searchsvc.ingest.extracted import Extracted, FormatError

__all__ = ["read_markdown"]

# Front matter keys read, first found wins; static-site generators differ in their names.
TITLE_KEYS = ("title",)
DATE_KEYS = ("date", "publishDate", "published_at", "pubDate")
SOURCE_KEYS = ("source", "site")
URL_KEYS = ("url", "canonical_url", "canonicalURL", "canonical")

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: ``yes``, ``no``, ``on``, ``off`` (and
    French titles such as "Non") stay strings. Dates stay strings too, read by
    :mod:`searchsvc.ingest.dates`: PyYAML would fail on the whole front matter for one
    impossible date (``2023-02-29``), where only the date is to be dropped."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Handler(YAMLHandler):
    """python-frontmatter's YAML handler, loading with :class:`_Yaml12Loader`."""

    def load(self, fm: str, **kwargs: object) -> object:
        return yaml.load(fm, Loader=_Yaml12Loader)  # a SafeLoader


_HANDLER = _Handler()
_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_TAG_RE = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)


def read_markdown(text: str) -> Extracted:
    """The fields of a Markdown file: front matter, then the body as plain text; the title
    is the front matter's, else the first level-1 heading (then left out of the body).
    FormatError when the front matter is not YAML or not a mapping."""
    try:
        meta, content = frontmatter.parse(text, handler=_HANDLER)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise FormatError(f"front matter is not valid YAML{line}: {problem}") from None
    except RecursionError:
        raise FormatError("front matter nested too deeply") from None
    except (ValueError, TypeError) as exc:  # a value PyYAML cannot construct
        raise FormatError(f"front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise FormatError("front matter is not a mapping of names to values")
    title = _text(_first(meta, TITLE_KEYS))
    blocks = _blocks(_PARSER.parse(content))
    if title:
        if blocks and blocks[0][1] == 1 and _same(blocks[0][0], title):
            del blocks[0]  # the title written again as the first heading
    else:
        first_h1 = next((k for k, (_text_, level) in enumerate(blocks) if level == 1), None)
        if first_h1 is not None:
            title = blocks.pop(first_h1)[0]
    return Extracted(
        body="\n\n".join(text for text, _level in blocks),
        title=title or None,
        date=_first(meta, DATE_KEYS),
        source=_text(_first(meta, SOURCE_KEYS)),
        url=_text(_first(meta, URL_KEYS)),
        draft=_flag(meta.get("draft")) is True or _flag(meta.get("published")) is False,
    )


def _flag(value: object) -> bool | None:
    """A yes-or-no front matter value: YAML's booleans, and the words YAML 1.1 read as ones
    ("draft: yes"), French ones too; None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in ("yes", "on", "oui", "y"):
            return True
        if word in ("no", "off", "non", "n"):
            return False
    return None


def _first(meta: dict, keys: tuple[str, ...]) -> object:
    return next((meta[k] for k in keys if meta.get(k) not in (None, "")), None)


def _text(value: object) -> str | None:
    """A front matter value as text, when it is a scalar ("title: 2024" is a title too)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value).strip() or None


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _blocks(tokens: list[Token]) -> list[tuple[str, int]]:
    """The text blocks of a parsed body, in order: (text, heading level or 0). A list item
    or a table row is a line of its list's or table's block."""
    blocks: list[tuple[str, int]] = []
    lines: list[str] = []  # the lines of the outermost list or table being read
    depth = 0  # lists and tables open
    level = 0  # the heading being read
    row: list[str] | None = None  # the cells of the table row being read

    def add(text: str, heading: int = 0) -> None:
        text = text.strip("\n")
        if not text.strip():
            return
        if depth:
            lines.append(text)
        else:
            blocks.append((text, heading))

    for tok in tokens:
        kind = tok.type
        if kind in ("bullet_list_open", "ordered_list_open", "table_open"):
            depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close", "table_close"):
            depth -= 1
            if not depth and lines:
                blocks.append(("\n".join(lines), 0))
                lines = []
        elif kind == "heading_open":
            level = int(tok.tag[1:])
        elif kind == "heading_close":
            level = 0
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            add(" ".join(cell for cell in row or () if cell))
            row = None
        elif kind == "inline":
            text = _inline(tok.children or [])
            if row is not None:
                row.append(" ".join(text.split()))
            else:
                add(text, level)
        elif kind in ("fence", "code_block"):
            add(tok.content)
        elif kind == "html_block":
            add(_TAG_RE.sub("", tok.content))
    return blocks


def _inline(children: list[Token]) -> str:
    """The text of inline tokens: link text, image alt text, code, no markup."""
    out: list[str] = []
    for tok in children:
        kind = tok.type
        if kind in ("text", "code_inline"):
            out.append(tok.content)
        elif kind == "image":
            out.append(_inline(tok.children or []) or tok.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
    return "".join(out)
