# The layer every docclass image starts from. `scratch`, not a distribution: the services are static musl
# binaries and need no libc, shell or package manager (nothing to patch, nothing for an intruder to use).
FROM scratch

# The AWS SDK's TLS (rustls) trusts the system's root certificates, and scratch has none: without this
# file every HTTPS call to AWS fails. Copied from the build host's ca-certificates package.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

# No name, no home, owns nothing in the image: a read-only root filesystem changes nothing for it.
# 65532 is the "nonroot" user of distroless images, which scanners and PodSecurity policies expect.
USER 65532:65532

# The mount point of compose's model store volume, owned by the user the services run as: a new volume
# mounted here takes its owner, so `docclass model publish` in the cli container may write to it.
COPY --chown=65532:65532 models/ /var/lib/docclass/models/

# What `docker stop` and ECS send: every service finishes the messages it holds, then exits.
STOPSIGNAL SIGTERM
