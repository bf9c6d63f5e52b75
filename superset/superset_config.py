"""Superset's configuration for lakeops (``SUPERSET_CONFIG_PATH`` points here).

Everything that differs per machine comes from the environment ``lakeops up`` gives the
service (``lakeops.services.superset.superset_env``): the state folder, the generated
secret key. Nothing secret is in this file.
"""

from __future__ import annotations

import os
from pathlib import Path

_HOME = Path(os.environ["LAKEOPS_SUPERSET_HOME"])

# signs session cookies and encrypts stored database passwords: generated per state folder
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# the metadata database lives in the state folder, beside Airflow's and MLflow's
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_HOME / 'superset.db'}"
DATA_DIR = str(_HOME)

# one machine, loopback only: an in-process cache, no Celery workers for async queries
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 600}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
EXPLORE_FORM_DATA_CACHE_CONFIG = FILTER_STATE_CACHE_CONFIG
RATELIMIT_STORAGE_URI = "memory://"

FEATURE_FLAGS = {
    "DASHBOARD_NATIVE_FILTERS": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
}
# no telemetry and no calls to third parties from a machine that talks to nobody.
# SCARF_ANALYTICS is read when Superset's front end is built; the wheel's bundle renders
# its telemetry pixel regardless, so the page's content security policy refuses it: only
# this server (and data:/blob: URLs) may serve images, scripts, styles, fonts and calls.
SCARF_ANALYTICS = False
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
SUPERSET_WEBSERVER_TIMEOUT = 120
ROW_LIMIT = 50_000


def FLASK_APP_MUTATOR(app: object) -> None:  # noqa: N802 - Superset's setting name
    """Time-range filters are parsed with pyparsing, whose grammar and packrat cache are
    shared by every gunicorn thread. A dashboard whose charts load at once got one chart
    refused in a CI run ("Expected '(', found ')'" for a plain date range that parses
    alone); a single-process reproduction did not show it, so the shared parser is the
    likely cause, not a proven one. Superset once serialised this parse for the same
    symptom (apache/superset#12489); the lock is restored here around the one function
    that runs the grammar (``get_since_until`` looks it up in its module at call time)."""
    import threading

    from superset.utils import date_parser

    evaluate = date_parser.datetime_eval
    lock = threading.Lock()

    def datetime_eval(expression: str | None = None):  # type: ignore[no-untyped-def]
        with lock:
            return evaluate(expression)

    date_parser.datetime_eval = datetime_eval
