# syntax=docker/dockerfile:1
# newsbrief API image. BASE_IMAGE is any Debian-like image with python3 (>= 3.11) and its venv
# module: python:3.12-slim by default, or a debootstrapped base (see scripts/container-check).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    NEWSBRIEF_HOST=0.0.0.0 \
    NEWSBRIEF_PORT=8000 \
    NEWSBRIEF_SHUTDOWN_GRACE_S=20

RUN groupadd --system newsbrief && useradd --system --gid newsbrief --home-dir /app newsbrief

# Dependencies first, from the hash-pinned lock, so code edits do not reinstall them.
COPY requirements/runtime.lock /app/requirements/runtime.lock
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r /app/requirements/runtime.lock

COPY service /app/service
COPY prompts /app/prompts
WORKDIR /app
USER newsbrief

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-m", "service", "healthcheck"]
STOPSIGNAL SIGTERM
# uvicorn finishes in-flight requests for up to NEWSBRIEF_SHUTDOWN_GRACE_S after SIGTERM;
# give the orchestrator's stop timeout a few seconds more than that.
CMD ["python3", "-m", "service", "serve"]
