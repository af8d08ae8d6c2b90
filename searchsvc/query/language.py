"""The query language people type, parsed into a small syntax tree.

``twitter delanoe`` (all words), ``"phrase exacte"``, ``-exclu``, ``paris OR lyon`` (also
``OU``), ``prési*``, ``title:mot`` (also ``titre:``, ``body:``/``texte:``, ``source:``), and
parentheses. Parsing never fails on odd input: a stray quote, parenthesis, colon or star is
read as plain text (a quote left open is ignored: ``"twitter paris`` is ``twitter paris``).
Only limits (length, number of terms) raise :class:`QueryError`; what a query would cost is
checked by the search (:class:`QueryTooExpensive`).

A tree is rewritten, never changed in place, by :func:`replace_leaf` and :func:`without_leaf`
(the instant query, :mod:`searchsvc.query.instant`, puts the word being typed in place).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from searchsvc.errors import Kind, QueryError
from searchsvc.index.schema import FIELD_ALIASES
from searchsvc.settings import MAX_DEPTH, MAX_QUERY_CHARS, MAX_TERMS, MIN_PREFIX_CHARS

OR_WORDS = frozenset({"OR", "OU"})


@dataclass(frozen=True)
class Word:
    """A plain word (it may analyse into several terms, as ``micro-blogging`` does)."""

    text: str
    field: str | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Phrase:
    """Words that must stand together, in order."""

    text: str
    field: str | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Prefix:
    """Every word starting with ``text``."""

    text: str
    field: str | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Not:
    """Documents matching ``node`` are excluded."""

    node: Node


@dataclass(frozen=True)
class All:
    """Every clause must match."""

    nodes: tuple[Node, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Any:
    """At least one clause must match."""

    nodes: tuple[Node, ...] = field(default_factory=tuple)


Node = Word | Phrase | Prefix | Not | All | Any
Leaf = Word | Phrase | Prefix

_LEX_RE = re.compile(
    r'(?P<space>\s+)|(?P<phrase>"[^"]*")|(?P<stray>")|(?P<open>\()|(?P<close>\))'
    r'|(?P<word>[^\s"()]+)'
)


@dataclass
class _Lexeme:
    kind: str
    text: str
    start: int
    end: int
    glued: bool = False  # directly followed by the next lexeme (no space)


def _lex(text: str) -> list[_Lexeme]:
    """Split a query into lexemes. A quote that no later quote closes is dropped, as if it
    had not been typed: what follows it is read as plain words, and what it stood between
    stays glued (``title:"twitter`` is ``title:twitter``)."""
    out: list[_Lexeme] = []
    end = -1  # where the last lexeme kept ends, moved past a dropped quote glued to it
    for m in _LEX_RE.finditer(text):
        if m.lastgroup == "space":
            continue
        if m.lastgroup == "stray":
            if end == m.start():
                end = m.end()
            continue
        if out and end == m.start():
            out[-1].glued = True
        out.append(_Lexeme(m.lastgroup, m.group(), m.start(), m.end()))
        end = m.end()
    return out


def check_length(text: str, name: str = "the query") -> None:
    """Raise :class:`QueryError` when ``text`` is over ``MAX_QUERY_CHARS`` characters."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"{name} is too long ({len(text)} characters; the limit is {MAX_QUERY_CHARS})",
            kind=Kind.QUERY_TOO_LONG,
            field="q",
            limit=MAX_QUERY_CHARS,
        )


def parse(text: str) -> Node:
    """Parse a query string; raise :class:`QueryError` only when it breaks a limit."""
    check_length(text)
    tree = _Parser(_lex(text)).parse()
    count = sum(1 for _ in leaves(tree))
    if count > MAX_TERMS:
        raise QueryError(
            f"the query has too many terms ({count}; the limit is {MAX_TERMS})",
            kind=Kind.TOO_MANY_TERMS,
            field="q",
            limit=MAX_TERMS,
        )
    return tree


class _Parser:
    def __init__(self, lexemes: list[_Lexeme]):
        self.lex = lexemes
        self.i = 0
        self.depth = 0

    def parse(self) -> Node:
        return self._sequence(None, inside=False)

    def _peek(self) -> _Lexeme | None:
        return self.lex[self.i] if self.i < len(self.lex) else None

    def _sequence(self, fieldname: str | None, inside: bool) -> Node:
        clauses: list[Node] = []
        pending_or = False
        while (lx := self._peek()) is not None:
            if lx.kind == "close":
                self.i += 1
                if inside:
                    break
                continue  # a stray ")" means nothing
            if lx.kind == "word" and lx.text in OR_WORDS and clauses:
                # "twitter OR" (still being typed) searches "twitter", not the word "or".
                self.i += 1
                pending_or = True
                continue
            unit = self._unit(fieldname)
            nxt = self._peek()
            before_or = nxt is not None and nxt.kind == "word" and nxt.text in OR_WORDS
            if unit is None or (not pending_or and not before_or and _same_clause(unit, clauses)):
                pending_or = False
                continue  # "fichier fichier …": a repeated clause adds only cost
            if pending_or and clauses:
                left = clauses.pop()
                left_nodes = left.nodes if isinstance(left, Any) else (left,)
                clauses.append(Any((*left_nodes, unit)))
            else:
                clauses.append(unit)
            pending_or = False
        if len(clauses) == 1:
            return clauses[0]
        return All(tuple(clauses))

    def _unit(self, fieldname: str | None) -> Node | None:
        lx = self.lex[self.i]
        self.i += 1
        negate = False
        if lx.kind == "word" and lx.text[0] in "-+" and (len(lx.text) > 1 or lx.glued):
            negate = lx.text[0] == "-"
            if len(lx.text) == 1:  # -"phrase" or -(group)
                nxt = self._peek()
                if nxt is None:
                    return None
                self.i += 1
                lx = nxt
            else:
                lx = _Lexeme(lx.kind, lx.text[1:], lx.start + 1, lx.end, lx.glued)
        node = self._atom(lx, fieldname)
        if node is None:
            return None
        return Not(node) if negate else node

    def _atom(self, lx: _Lexeme, fieldname: str | None) -> Node | None:
        if lx.kind == "open":
            if self.depth >= MAX_DEPTH:
                return None
            self.depth += 1
            try:
                node = self._sequence(fieldname, inside=True)
            finally:
                self.depth -= 1
            return None if node == All(()) else node
        if lx.kind == "phrase":
            inner = lx.text[1:-1]
            if not inner.strip():
                return None
            return Phrase(inner.strip(), fieldname, lx.start + 1, lx.start + 1 + len(inner))
        if lx.kind != "word":
            return None
        text, start = lx.text, lx.start
        name, sep, rest = text.partition(":")
        if sep and name.lower() in FIELD_ALIASES:
            target = FIELD_ALIASES[name.lower()]
            if rest:
                text, start, fieldname = rest, start + len(name) + 1, target
            elif lx.glued and (nxt := self._peek()) is not None and nxt.kind != "close":
                # title:"mot", title:(a b), or title:mot once a stray quote between is dropped
                self.i += 1
                return self._atom(nxt, target)
            else:
                text = name  # "title:" alone is just the word
        stripped = text.strip("*")
        if not any(c.isalnum() for c in stripped):
            return None  # punctuation alone ("-", "...") is nothing to search
        if text.endswith("*") and sum(c.isalnum() for c in stripped) >= MIN_PREFIX_CHARS:
            lead = len(text) - len(text.lstrip("*"))
            return Prefix(stripped, fieldname, start + lead, start + lead + len(stripped))
        lead = len(text) - len(text.lstrip("*"))
        return Word(stripped, fieldname, start + lead, start + lead + len(stripped))


def _same_clause(unit: Node, clauses: list[Node]) -> bool:
    """Whether ``unit`` repeats a clause already in ``clauses`` (positions aside)."""
    text = render(unit)
    return any(render(c) == text for c in clauses)


def leaves(node: Node, negated: bool = False):
    """Yield ``(leaf, negated)`` for every word, phrase and prefix in the tree."""
    if isinstance(node, Not):
        yield from leaves(node.node, not negated)
    elif isinstance(node, All | Any):
        for child in node.nodes:
            yield from leaves(child, negated)
    else:
        yield node, negated


def last_leaf(tree: Node) -> tuple[Leaf, bool] | None:
    """The leaf that ends last in the query text, as ``(leaf, negated)`` like :func:`leaves`
    gives it (the word being typed, when the text does not end with a space); None for a
    tree without leaves."""
    found = list(leaves(tree))
    return max(found, key=lambda ln: ln[0].end) if found else None


def replace_leaf(tree: Node, leaf: Leaf, new: Node) -> Node:
    """``tree`` with ``new`` in place of ``leaf`` (that very node, as :func:`leaves` gives it:
    an equal leaf elsewhere stays); the rest of the tree is shared, not copied."""
    if tree is leaf:
        return new
    if isinstance(tree, Not):
        return Not(replace_leaf(tree.node, leaf, new))
    if isinstance(tree, All | Any):
        return type(tree)(tuple(replace_leaf(n, leaf, new) for n in tree.nodes))
    return tree


def without_leaf(tree: Node, leaf: Leaf) -> Node:
    """``tree`` with ``leaf`` (that very node) left out of the groups (:class:`All`,
    :class:`Any`) that hold it, a group left with one clause becoming that clause. A leaf
    that is the whole tree, or under a :class:`Not` directly, stays: nothing would be left
    of that clause."""
    if isinstance(tree, Not):
        return Not(without_leaf(tree.node, leaf))
    if isinstance(tree, All | Any):
        kept = tuple(without_leaf(n, leaf) for n in tree.nodes if n is not leaf)
        return kept[0] if len(kept) == 1 else type(tree)(kept)
    return tree


def render(node: Node) -> str:
    """Write the tree back in the query language, normalised (for "the query as understood")."""
    if isinstance(node, Not):
        return "-" + _render_clause(node.node)
    if isinstance(node, All):
        return " ".join(_render_clause(n) for n in node.nodes)
    if isinstance(node, Any):
        return " OR ".join(_render_clause(n) for n in node.nodes)
    prefix = f"{node.field}:" if node.field else ""
    if isinstance(node, Phrase):
        return f'{prefix}"{node.text}"'
    if isinstance(node, Prefix):
        return f"{prefix}{node.text}*"
    return prefix + node.text


def _render_clause(node: Node) -> str:
    """A clause inside a group or after ``-``: in parentheses when it groups several."""
    text = render(node)
    return f"({text})" if isinstance(node, All | Any) and len(node.nodes) > 1 else text


def understood_if_different(typed: str, understood: str) -> str | None:
    """``understood`` (a query as :func:`render` writes it back) when it says something else
    than ``typed``, else None: so that a page or the CLI can show "Recherche de : …" when
    input was read otherwise than it looks (an open quote, a repeated word, a stray sign).

    Spacing, ``OU`` for ``OR`` and field aliases (``titre:``) are not differences.
    """
    if not understood.strip() or _spelling(typed) == _spelling(understood):
        return None
    return understood


def _spelling(text: str) -> list[str]:
    """The lexemes of ``text`` as :func:`render` would spell them, stray quotes kept."""
    out = []
    for m in _LEX_RE.finditer(text):
        kind, token = m.lastgroup, m.group()
        if kind == "space":
            continue
        if kind == "phrase":
            token = '"' + " ".join(token[1:-1].split()) + '"'
        elif kind == "word":
            name, sep, rest = token.partition(":")
            if token in OR_WORDS:
                token = "OR"
            elif sep and name.lower() in FIELD_ALIASES:
                token = f"{FIELD_ALIASES[name.lower()]}:{rest}"
        out.append(token)
    return out
