# The engine only; Asterisk and PostgreSQL run elsewhere (see README, "Operations").
# Not built on the development machines (no Docker engine there): kept small and plain.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CTO_HTTP_LISTEN=0.0.0.0:8080 CTO_SPOOL_DIR=/var/spool/ctoengine

RUN useradd --system --home-dir /app --shell /usr/sbin/nologin ctoengine \
 && mkdir -p /var/spool/ctoengine && chown ctoengine /var/spool/ctoengine
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ctoengine ./ctoengine
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir .

USER ctoengine
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["ctoengine"]
CMD ["run"]
