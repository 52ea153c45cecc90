# table-writer: the static binary on docclass-base (Dockerfiles/base.Dockerfile). Built by
# Dockerfiles/build-images.sh, which compiles the binary and copies it into the build context.
ARG BASE=docclass-base:latest
FROM ${BASE}

COPY table-writer /usr/local/bin/table-writer

# /healthz and /metrics.
EXPOSE 9103
# Outside a container the default is loopback; here the engine and the scraper reach it from outside.
ENV DOCCLASS_METRICS_ADDR=0.0.0.0:9103
# The binary asks its own /healthz: there is no curl in a scratch image.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/table-writer", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/table-writer"]
