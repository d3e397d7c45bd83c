# syntax=docker/dockerfile:1
# The engine only; Asterisk runs beside it (on the host or elsewhere), PostgreSQL and
# Prometheus as in compose.yaml. NOT BUILT on the development machines (no container
# engine there): see README, "Docker".
#
# Layers: the locked dependencies are installed before the code is copied, so a code
# change reinstalls nothing but the package itself.

# --- prompts: 8 kHz WAV from prompts/ru/*.txt (espeak-ng, sox), as scripts/prompts does
FROM debian:12-slim AS prompts
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/prompts scripts/prompts
COPY prompts prompts
RUN rm -f prompts/ru/*.wav && bash scripts/prompts prompts/ru

# --- the engine
FROM python:3.11-slim AS engine
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CTO_HTTP_LISTEN=0.0.0.0:8080 \
    CTO_SPOOL_DIR=/var/spool/ctoengine \
    CTO_ROUTING=/var/lib/ctoengine/config/demo.yaml

RUN useradd --system --uid 10001 --home-dir /var/lib/ctoengine --shell /usr/sbin/nologin ctoengine \
 && mkdir -p /var/spool/ctoengine /var/lib/ctoengine \
 && chown ctoengine /var/spool/ctoengine

# 1. Dependencies only, exactly as locked (hashes checked): cached until the lock changes.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock

# 2. The package (its migrations are package data), without resolving anything.
WORKDIR /tmp/build
COPY pyproject.toml README.md LICENSE ./
COPY ctoengine ./ctoengine
RUN pip install --no-cache-dir --no-deps . && rm -rf /tmp/build

# 3. The routing file and its prompts. Asterisk plays prompts by absolute path
#    (sound:/var/lib/ctoengine/prompts/ru/NAME), so it must see the same files at the
#    same path: compose.yaml bind-mounts this folder from the host (README, "Docker").
WORKDIR /var/lib/ctoengine
COPY config ./config
COPY --from=prompts /src/prompts/ru ./prompts/ru

USER ctoengine
VOLUME ["/var/spool/ctoengine"]
EXPOSE 8080
# Liveness: the process and its event loop (/livez). Readiness (/readyz: ARI and the
# database) is for an orchestrator's readiness probe, not a restart (see compose.yaml).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["ctoengine"]
CMD ["run"]
