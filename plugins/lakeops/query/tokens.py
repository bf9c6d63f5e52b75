"""A statement cut into SQL tokens: what the read-only guard and the fallback name rewrite
read when sqlglot's parser is not the one to ask.

The guard must judge every statement before any parser does (the first keyword, a second
statement, a private DuckDB function), and a statement sqlglot cannot parse (DuckDB-only
syntax a user typed) still needs its Dremio table paths mapped. Both only need to tell
words, quoted identifiers, strings, comments and dots apart, so names inside strings and
comments are never mistaken for table paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<str>'(?:[^']|'')*')
      | (?P<qid>"(?:[^"]|"")*")
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<dot>\.)
      | (?P<other>.)""",
    re.S | re.X,
)


@dataclass
class Token:
    kind: str
    text: str

    @property
    def ident(self) -> str | None:
        if self.kind == "word":
            return self.text
        if self.kind == "qid":
            return self.text[1:-1].replace('""', '"')
        return None


def tokenize(sql: str) -> list[Token]:
    return [Token(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(sql)]


def significant(tokens: list[Token]) -> list[Token]:
    """The tokens without whitespace and comments."""
    return [t for t in tokens if t.kind not in ("ws", "comment")]


def chains(tokens: list[Token]) -> list[tuple[int, int, list[str]]]:
    """Runs of identifiers joined by dots: (first token index, last index, name parts);
    a quoted part holding dots counts as several parts."""
    out = []
    i = 0
    while i < len(tokens):
        if tokens[i].ident is None:
            i += 1
            continue
        start, parts = i, list(_split(tokens[i]))
        while (i + 2 < len(tokens) and tokens[i + 1].kind == "dot"
               and tokens[i + 2].ident is not None):
            i += 2
            parts += _split(tokens[i])
        out.append((start, i, parts))
        i += 1
    return out


def _split(token: Token) -> list[str]:
    ident = token.ident or ""
    return ident.split(".") if token.kind == "qid" else [ident]
