# syntax=docker/dockerfile:1
# One image for all five processes: `docker run IMAGE ingestor|auditor|backfiller|analytics|api`.
ARG PYTHON_IMAGE=python:3.11-slim

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
ENTRYPOINT ["petrosa"]
CMD ["api"]
