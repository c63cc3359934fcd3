"""Types as Lean prints them with `pp.all`, compared up to the names of bound variables.

`alpha_key(text)` reads the printed type back into a tree whose bound variables are de Bruijn
indices (`("#", 0)` is the innermost binder), whose binder groups `(a b : T)` are separate
binders, and whose arrows `A → B` are binders without a name; constants, numerals and universe
levels stay as printed.  Two types with the same key are the same `Expr` up to binder names,
so the verifier accepts a `code` candidate that states the theorem with other hypothesis names
(`(a b : Prop) (hab : And a b)` for `(p q : Prop) (h : And p q)`, or `And a b → ...` for
`(h : And a b), ...`).

The reader knows only what pp.all prints for ordinary statements: `∀`, `fun`, `→`, binder
groups with `()`, `{}`, `[]`, `⦃⦄`, applications, parentheses, `@`, names with `.{levels}`,
numerals, `Sort`/`Type` with a level, `Prop`.  Anything else (`let`, `match`, strings,
projections `x.1`, inaccessible names `x✝`, a dotted name starting with a bound variable, ...)
gives None, and the caller compares the texts exactly, as before: unknown syntax can cost a
proof its acceptance, never make two different statements equal.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<ident>(?:«[^»]*»|[^\W\d]|_)[\w'!?]*(?:\.(?:«[^»]*»|[^\W\d]|_)[\w'!?]*)*(?:\.\{[^{}]*\})?)
  | (?P<num>\d+)
  | (?P<punct>=>|→|∀|[(){}\[\]⦃⦄,:@+])
""", re.X)
_OPEN = {"(": ")", "{": "}", "[": "]", "⦃": "⦄"}
_UNSUPPORTED = {"let", "have", "match", "with", "do", "if", "then", "else", "λ", "∃", "show", "from", "by"}
_SORTS = {"Sort", "Type"}


class _Unsupported(Exception):
    pass


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _Unsupported(text[pos:pos + 20])
        pos = m.end()
        if m.lastgroup == "space":
            continue
        tok = m.group()
        if tok in _UNSUPPORTED or "✝" in tok:
            raise _Unsupported(tok)
        out.append(tok)
    return out


class _Reader:
    def __init__(self, toks: list[str]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise _Unsupported(f"expected {want!r}, got {tok!r}")
        self.i += 1
        return tok

    # term := ∀ binders , term | fun binders => term | app [→ term]
    def term(self, scope: list[str | None]) -> Any:
        tok = self.peek()
        if tok in ("∀", "fun"):
            return self.binder_term(scope)
        left = self.app(scope)
        if self.peek() == "→":
            self.take()
            return ("pi", "(", left, self.term([*scope, None]))
        return left

    def binder_term(self, scope: list[str | None]) -> Any:
        kind = "pi" if self.take() == "∀" else "lam"
        closer = "," if kind == "pi" else "=>"
        binders: list[tuple[str, Any]] = []
        inner = list(scope)
        while self.peek() != closer:
            opener = self.take()
            if opener not in _OPEN:
                raise _Unsupported(f"binder {opener!r}")
            names = []
            while self.peek() not in (":", None):
                names.append(self.bound_name())
            if not names:
                raise _Unsupported("binder without a name")
            self.take(":")
            start = self.i
            for name in names:  # each binder's type under the binders before it (de Bruijn shift)
                self.i = start
                binders.append((opener, self.term(inner)))
                inner.append(name)
            self.take(_OPEN[opener])
        self.take(closer)
        body = self.term(inner)
        for info, typ in reversed(binders):
            body = (kind, info, typ, body)
        return body

    def bound_name(self) -> str:
        tok = self.take()
        if not re.fullmatch(r"(?:[^\W\d]|_)[\w'!?]*", tok):
            raise _Unsupported(f"binder name {tok!r}")
        return tok

    def app(self, scope: list[str | None]) -> Any:
        parts = [self.atom(scope)]
        while True:
            tok = self.peek()
            if tok == "fun":  # a trailing `fun` argument needs no parentheses
                parts.append(self.binder_term(scope))
                break
            if tok is None or tok in (")", "}", "]", "⦄", ",", ":", "=>", "→", "∀"):
                break
            parts.append(self.atom(scope))
        return parts[0] if len(parts) == 1 else ("app", *parts)

    def atom(self, scope: list[str | None]) -> Any:
        tok = self.take()
        if tok == "(":
            inner = self.term(scope)
            self.take(")")
            return inner
        if tok == "@":
            name = self.take()
            return ("@", self.name(name, scope))
        if tok in _SORTS:
            return ("sort", tok, self.level())
        if tok == "Prop":
            return ("sort", "Prop", "")
        if tok.isdigit():
            return ("num", tok)
        if _TOKEN.fullmatch(tok) is not None and _TOKEN.fullmatch(tok).lastgroup == "ident":
            return self.name(tok, scope)
        raise _Unsupported(tok)

    def name(self, tok: str, scope: list[str | None]) -> Any:
        first = tok.split(".", 1)[0]
        if first in scope:
            if tok != first:
                raise _Unsupported(f"{tok!r}: a dotted name on a bound variable")
            return ("#", len(scope) - 1 - max(k for k, n in enumerate(scope) if n == tok))
        return ("const", tok)

    def level(self) -> str:
        """A universe level after `Sort`/`Type`, kept as printed ('' for none)."""
        tok = self.peek()
        if tok is None:
            return ""
        if tok.isdigit() or (tok not in _SORTS and tok != "Prop" and re.fullmatch(r"(?:[^\W\d]|_)[\w'!?]*", tok)):
            self.take()
            return tok
        if tok != "(":
            return ""
        depth, parts = 0, []
        while True:
            t = self.take()
            parts.append(t)
            depth += {"(": 1, ")": -1}.get(t, 0)
            if depth == 0:
                return " ".join(parts)


def alpha_key(text: str) -> tuple | None:
    """The type `text` (pp.all output) with bound variables nameless, or None if it cannot be read."""
    try:
        reader = _Reader(_tokens(text))
        key = reader.term([])
        if reader.peek() is not None:
            raise _Unsupported(f"trailing {reader.peek()!r}")
    except _Unsupported:
        return None
    except RecursionError:
        return None
    return key if isinstance(key, tuple) else (key,)


def same_up_to_binder_names(a: str, b: str) -> bool:
    """Whether two pp.all types are equal, or equal once bound variables are renamed."""
    if a == b:
        return True
    ka = alpha_key(a)
    return ka is not None and ka == alpha_key(b)
