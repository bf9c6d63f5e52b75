"""Who may read what through the lakehouse SQL endpoint.

Users and roles come from the settings (``LAKEOPS_SQL_USERS``: user -> role,
``LAKEOPS_SQL_ROLES``: role -> lake zones). Out of the box:

* ``analyst`` reads the published zones — curated, features, marts, predictions,
  monitoring; ``lakeops sql``, Superset and the platform's own clients connect as it;
* ``steward`` (a data steward) reads those plus ``raw`` and ``quarantine``, where rows the
  contracts rejected are kept for investigation.

No role can be given ``landing``: the deliveries as delivered (PII in clear) are never
served, and the landing store lies outside the lake the endpoint reads. Every user has its
own password, generated into the state folder on first use (or injected as
``LAKEOPS_SECRET_SQL_PASSWORD_<USER>``); the user named by ``LAKEOPS_FLIGHT_USER`` takes
``LAKEOPS_FLIGHT_PASSWORD`` when that is set, as Dremio's user does in compose.

Dremio Enterprise grants privileges on sources and folders; Dremio OSS has no per-user
privileges, so this is the embedded endpoint's own check, written here because DuckDB has
no users at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakeops.core.settings import Settings
from lakeops.query.errors import SQLRefused

# every zone the endpoint can serve; landing/ (deliveries as delivered) is not one
SERVABLE = ("curated", "features", "marts", "predictions", "monitoring", "quarantine", "raw")


class NotGranted(SQLRefused):
    """A table or zone the user's role may not read."""


@dataclass(frozen=True)
class Grant:
    user: str
    role: str
    zones: frozenset[str]

    def allows(self, zone: str) -> bool:
        return zone.lower() in self.zones

    def refuse(self, what: str, zone: str) -> NotGranted:
        return NotGranted(
            f"not granted: {what} is in the '{zone}' zone, which role '{self.role}' (user "
            f"'{self.user}') may not read; granted zones: {', '.join(sorted(self.zones))}")


def from_settings(settings: Settings) -> dict[str, Grant]:
    """Each configured user's grant; a role naming a zone the endpoint cannot serve (such
    as ``landing``) is a configuration error."""
    out = {}
    for role, zones in settings.sql_roles.items():
        wrong = sorted({z.lower() for z in zones} - set(SERVABLE))
        if wrong:
            raise ValueError(f"LAKEOPS_SQL_ROLES: role '{role}' names zone(s) "
                             f"{', '.join(wrong)}; the endpoint serves only "
                             f"{', '.join(SERVABLE)} (never landing)")
    if settings.flight_user not in settings.sql_users:
        raise ValueError(f"LAKEOPS_FLIGHT_USER '{settings.flight_user}' (the user the "
                         f"platform's clients connect as) is not one of LAKEOPS_SQL_USERS "
                         f"({', '.join(sorted(settings.sql_users))})")
    for user, role in settings.sql_users.items():
        out[user] = Grant(user, role, frozenset(z.lower() for z in settings.sql_roles[role]))
    return out


def password(settings: Settings, user: str) -> str:
    """The user's endpoint password: configured for the client user, else generated."""
    if user == settings.flight_user and settings.flight_password is not None:
        return settings.flight_password.get_secret_value()
    from lakeops.core.keys import get_secret

    return get_secret(settings, f"sql-password-{user}")


def flight_password(settings: Settings) -> str:
    """The password of ``LAKEOPS_FLIGHT_USER`` (the platform's clients connect as it)."""
    return password(settings, settings.flight_user)
