# docclass-cli: the `docclass` command, for compose's init step (`infra up`) and for looking at a running
# stack (`results`, `dlq inspect`) from inside its network. Built by Dockerfiles/build-images.sh.
ARG BASE=docclass-base:latest
FROM ${BASE}

COPY docclass /usr/local/bin/docclass
ENTRYPOINT ["/usr/local/bin/docclass"]
