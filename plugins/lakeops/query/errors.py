"""The one error the lakehouse SQL endpoint answers a refused statement with.

Every check raises it — the read-only guard, name resolution, grants, function
translation, the engine's limits (subclasses) — and the Flight service turns it into the
client's error message, so its text is written for the person who sent the statement.
It lives apart from all of them so that each can raise it without importing the others.
"""

from __future__ import annotations


class SQLRefused(ValueError):
    """The statement is not allowed on this read-only endpoint."""
