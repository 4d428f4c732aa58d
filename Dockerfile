# syntax=docker/dockerfile:1
# One image for all five processes: `docker run IMAGE ingestor|auditor|backfiller|analytics|api`.
# The base is pinned by digest, so a rebuild gets the same interpreter and system libraries;
# move it on deliberately (docs/deployment.md, "Images").
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
# The compiler is only for dependencies without a wheel for the target platform; it stays here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# uv installs from uv.lock and stays in this stage; the same version as the Makefile's.
ARG UV_VERSION=0.13.9
RUN pip install "uv==${UV_VERSION}"
WORKDIR /src
# The runtime dependencies first, pinned by uv.lock, so a source change reuses this layer.
# --no-dev and no --extra: the dev group (tests, lint) and the `dev` extra (the embedded
# nats-server that `petrosa dev` runs) stay out of the production image.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY libs ./libs
COPY services ./services
RUN uv sync --locked --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric uid lets Kubernetes verify runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 petrosa \
    && useradd --system --uid 10001 --gid petrosa --no-create-home --home-dir /app petrosa \
    && mkdir -p /app/data \
    && chown petrosa:petrosa /app/data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000 9090
# Liveness of whichever process runs: the api answers on API_PORT, the others on METRICS_PORT.
# Orchestrators probe readiness themselves (the chart, docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; args = open('/proc/1/cmdline', 'rb').read().split(b'\\0'); port = os.environ.get('API_PORT', '8000') if b'api' in args else os.environ.get('METRICS_PORT', '9090'); r.urlopen(f'http://127.0.0.1:{port}/health/liveness', timeout=4)"]
ENTRYPOINT ["petrosa"]
CMD ["api"]
