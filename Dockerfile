# syntax=docker/dockerfile:1
# LLM gateway image: `llm-gateway serve` as a non-root user (UID 10001) that only
# writes under /tmp, so the pod can run with a read-only root filesystem.
# Build: docker build -t llm-gateway:dev .

# ---- build: a virtualenv holding the gateway and its dependencies ----------------
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Only what `pip install .` needs, so edits to tests or docs keep the layer cache.
COPY pyproject.toml README.md ./
COPY gateway/ gateway/
COPY providers/ providers/
COPY migrations/ migrations/
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- runtime: the same slim base, the venv, no compilers or pip caches ------------
FROM python:3.11.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="llm-gateway" \
      org.opencontainers.image.description="OpenAI-compatible LLM gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin gateway
COPY --from=build /opt/venv /opt/venv
# Everything the process writes goes to /tmp (an emptyDir in Kubernetes): Python
# never writes bytecode, and `serve --workers N` puts prometheus_client's multiprocess
# files in a directory under $TMPDIR.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080 8081
# Liveness only (/healthz): readiness depends on the database and Redis, which the
# orchestrator checks on /readyz itself.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["llm-gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--admin-port", "8081"]
