# subtopic-classifier: the static binary and the model it serves, on docclass-base (Dockerfiles/base.Dockerfile).
# Built by Dockerfiles/build-images.sh, which compiles the binary and copies it into the build context.
ARG BASE=docclass-base:latest
FROM ${BASE}

COPY subtopic-classifier /usr/local/bin/subtopic-classifier
# Baked in, so a task needs nothing but the image (ECS pulls one artifact). Mount another file over it,
# or point DOCCLASS_MODEL elsewhere, to serve a different model without rebuilding.
COPY model.bin /usr/local/share/docclass/model.bin
ENV DOCCLASS_MODEL=/usr/local/share/docclass/model.bin

# /healthz and /metrics.
EXPOSE 9102
# Outside a container the default is loopback; here the engine and the scraper reach it from outside.
ENV DOCCLASS_METRICS_ADDR=0.0.0.0:9102
# The binary asks its own /healthz: there is no curl in a scratch image.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/subtopic-classifier", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/subtopic-classifier"]
