# Superset of the production profile, from the same lock as the embedded default's
# Superset environment (Superset 6.1 with sqlalchemy-dremio for dremio+flight:// URIs).
# Its metadata DB is SQLite in the superset volume.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50001 superset

ENV VIRTUAL_ENV=/opt/superset/venv PATH=/opt/superset/venv/bin:$PATH UV_COMPILE_BYTECODE=1 \
    SUPERSET_HOME=/var/lib/superset
ARG UV_VERSION=0.13.8
COPY superset/requirements.lock /opt/superset/requirements.lock
COPY superset/superset_config.py /opt/superset/superset_config.py
RUN pip install --no-cache-dir uv==${UV_VERSION} \
 && uv venv --python /usr/local/bin/python3.11 $VIRTUAL_ENV \
 && uv pip install --no-cache --no-deps -r /opt/superset/requirements.lock \
 && mkdir -p /var/lib/superset && chown superset /var/lib/superset

USER superset
ENTRYPOINT ["/usr/bin/tini", "--"]
