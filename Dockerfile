# syntax=docker/dockerfile:1
#
# io-bridge image: the wheel is built in a throw-away builder stage and installed into a slim
# runtime that has no compiler, runs as a numeric non-root user and starts `python -m service`.
#
#   docker build -t io-bridge:dev .                                # the service only
#   docker build -t io-bridge:dev --build-arg IOB_EXTRAS=emulator .  # + the IO API emulator
#
# The emulator extra (starlette, uvicorn, numpy) is for local set-ups such as deploy/compose.yaml;
# production images leave it out.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler in the builder only: a dependency without a wheel for this platform is built here
# (aiokafka falls back to pure Python, ~6x slower, if its C extension cannot be compiled).
# Unpinned on purpose: the builder's compiler never reaches the runtime image.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY service ./service
COPY schemas ./schemas
COPY emulator ./emulator

ARG IOB_EXTRAS=""
# Wheels for io-bridge and every runtime dependency, pinned by constraints.txt.
RUN pip wheel --wheel-dir /wheels --constraint constraints.txt \
      ".${IOB_EXTRAS:+[$IOB_EXTRAS]}"

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/io-bridge \
    PATH=/opt/io-bridge/bin:$PATH \
    IOB_HTTP_HOST=0.0.0.0 \
    IOB_HTTP_PORT=8000 \
    IOB_LOG_FORMAT=json

RUN groupadd --system --gid 10001 iobridge \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin iobridge

ARG IOB_EXTRAS=""
# Install from the builder's wheels only (no index), without copying them into a layer.
# Byte code is compiled now: the container's root filesystem is read-only at run time.
# Versions are fixed by the builder's wheels (constraints.txt), hence no pins here.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
 && pip install --no-index --find-links /wheels "io-bridge${IOB_EXTRAS:+[$IOB_EXTRAS]}" \
 && python -m compileall -q "$VIRTUAL_ENV"

# aiokafka's C extension must import, or throughput silently drops (kafka-pitfalls.md,
# aiokafka#514); the console script and the module entry point must resolve.
RUN python -c "import aiokafka.record._crecords.default_records, aiokafka.record._crecords.legacy_records, aiokafka.record._crecords.memory_records, aiokafka.record._crecords.cutil" \
 && python -c "import service.config, service.metrics" \
 && io-bridge --help > /dev/null

WORKDIR /app
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM

# For plain Docker / compose; Kubernetes uses the Deployment's probes instead.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IOB_HTTP_PORT', '8000'), timeout=2)"]

CMD ["python", "-m", "service"]
