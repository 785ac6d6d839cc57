"""The Guardian ``q`` syntax for the local /search server: AND, OR, NOT, "quoted phrases", parentheses.

As documented for the Content API: ``sausages``, ``"pork sausages"``, ``sausages AND (mash OR
chips)``, ``sausages AND NOT (saveloy OR battered)``; words next to each other without an
operator are ANDed. Matching is case-insensitive on whole words (a trailing ``'s`` or ``s``
allowed), over whatever text the server searches (title, trail text, live blog entries).
A malformed query raises :class:`QueryError` (the server answers 400, as the API does).
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"|([^\s()"]+))')


class QueryError(ValueError):
    """The query is not valid Guardian syntax."""


def _tokens(q: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    q = q.strip()
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise QueryError(f"cannot read the query at {q[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1):
            out.append(("(", "("))
        elif m.group(2):
            out.append((")", ")"))
        elif m.group(3) is not None:
            out.append(("phrase", m.group(3)))
        elif m.group(4) in ("AND", "OR", "NOT"):
            out.append((m.group(4), m.group(4)))
        else:
            out.append(("word", m.group(4)))
    return out


class _Parser:
    """or := and ("OR" and)* ; and := unary (["AND"] unary)* ; unary := "NOT" unary | "(" or ")" | term."""

    def __init__(self, tokens):
        self.tokens, self.i = tokens, 0

    def peek(self):
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self):
        if not self.tokens:
            return ("all",)
        node = self.or_()
        if self.i != len(self.tokens):
            raise QueryError(f"unexpected {self.tokens[self.i][1]!r}")
        return node

    def or_(self):
        nodes = [self.and_()]
        while self.peek() == "OR":
            self.take()
            nodes.append(self.and_())
        return ("or", *nodes) if len(nodes) > 1 else nodes[0]

    def and_(self):
        nodes = [self.unary()]
        while self.peek() in ("AND", "NOT", "(", "word", "phrase"):
            if self.peek() == "AND":
                self.take()
            nodes.append(self.unary())
        return ("and", *nodes) if len(nodes) > 1 else nodes[0]

    def unary(self):
        kind = self.peek()
        if kind == "NOT":
            self.take()
            return ("not", self.unary())
        if kind == "(":
            self.take()
            node = self.or_()
            if self.peek() != ")":
                raise QueryError("unbalanced parentheses")
            self.take()
            return node
        if kind in ("word", "phrase"):
            return ("term", self.take()[1])
        raise QueryError(f"expected a term, got {kind or 'the end'}")


@lru_cache(maxsize=256)
def parse(q: str):
    """The query's tree (cached); raises :class:`QueryError`."""
    return _Parser(_tokens(q)).parse()


@lru_cache(maxsize=1024)
def _term_re(term: str) -> re.Pattern:
    words = [re.escape(w) for w in term.split()]
    if not words:
        return re.compile(r"(?!)")
    return re.compile(r"(?<!\w)" + r"\W+".join(words) + r"(?:'s|s)?(?!\w)", re.IGNORECASE)


def matches(q: str, text: str) -> bool:
    """Whether ``text`` matches the Guardian query ``q`` (an empty query matches everything)."""

    def ev(node) -> bool:
        kind = node[0]
        if kind == "all":
            return True
        if kind == "term":
            return _term_re(node[1]).search(text) is not None
        if kind == "not":
            return not ev(node[1])
        if kind == "and":
            return all(ev(n) for n in node[1:])
        return any(ev(n) for n in node[1:])

    return ev(parse(q))
