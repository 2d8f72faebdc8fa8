# syntax=docker/dockerfile:1
# newsbrief API image. BASE_IMAGE is any Debian-like image with python3 (>= 3.11) and its venv
# module: python:3.12-slim by default, or a debootstrapped base (see scripts/container-check).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

# The shutdown grace fits inside `docker stop`'s default 10 s, so the drain finishes before a
# SIGKILL; raise both together (docker run --stop-timeout) for slower upstreams.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    NEWSBRIEF_HOST=0.0.0.0 \
    NEWSBRIEF_PORT=8000 \
    NEWSBRIEF_SHUTDOWN_GRACE_S=8 \
    NEWSBRIEF_DATA_DIR=/data

RUN groupadd --system newsbrief && useradd --system --gid newsbrief --home-dir /app newsbrief

# Dependencies first, from the hash-pinned lock, so code edits do not reinstall them.
COPY requirements/runtime.lock /tmp/build/requirements/runtime.lock
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r /tmp/build/requirements/runtime.lock

# Then the package itself, as a wheel would install it: service/ with the prompts inside, and the
# `newsbrief` command. The development tools (newsbrief_dev/, tests) are never copied in.
COPY pyproject.toml README.md /tmp/build/
COPY service /tmp/build/service
COPY prompts /tmp/build/prompts
RUN /opt/venv/bin/pip install --no-deps /tmp/build && rm -rf /tmp/build

# The store's SQLite file lives in /data, a volume: answers outlive the container. With
# NEWSBRIEF_DATABASE_URL set (PostgreSQL) nothing is written there.
RUN mkdir /data && chown newsbrief:newsbrief /data
VOLUME /data

WORKDIR /app
USER newsbrief

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["newsbrief", "healthcheck"]
STOPSIGNAL SIGTERM
CMD ["newsbrief", "serve"]
