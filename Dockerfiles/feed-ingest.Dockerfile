# feed-ingest: the static binary on docclass-base (Dockerfiles/base.Dockerfile). Built by
# Dockerfiles/build-images.sh, which compiles the binary and copies it into the build context.
# Give it a command: `--config /etc/docclass/feeds.toml` to poll a feed list (docker-compose.yml mounts
# one), or `--input FILE` to enqueue a JSON Lines file once.
ARG BASE=docclass-base:latest
FROM ${BASE}

COPY feed-ingest /usr/local/bin/feed-ingest

# /healthz, /metrics and /feeds.
EXPOSE 9100
# Outside a container the default is loopback; here the engine and the scraper reach it from outside.
ENV DOCCLASS_METRICS_ADDR=0.0.0.0:9100
# The binary asks its own /healthz: there is no curl in a scratch image.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/feed-ingest", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/feed-ingest"]
