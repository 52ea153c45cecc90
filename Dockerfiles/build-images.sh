#!/usr/bin/env bash
# Builds the container images, tagged ${DOCCLASS_IMAGE_TAG:-latest}:
#   docclass-feed-ingest, docclass-topic-classifier, docclass-subtopic-classifier, docclass-table-writer
#   docclass-cli    the `docclass` command (compose's init step; `docker compose run cli results`)
#   docclass-base   the scratch layer they share (CA roots, user, stop signal)
#
# Offline by design: cargo compiles static musl binaries on the host first, then each image is
# `FROM scratch` plus COPY, so `docker build` downloads nothing and works where no registry is reachable.
#
# The classifier images carry the model at /usr/local/share/docclass/model.bin (where the ECS task
# definitions look): the file $DOCCLASS_MODEL names, else one trained here on the arXiv corpus — the
# compose stack polls arXiv's feeds — found like `docclass train` finds it ($DOCCLASS_DATA_DIR or a
# shared/data above this folder). DOCCLASS_CORPUS=20ng trains the 20 Newsgroups model instead.
#
# Needs: the musl target (`rustup target add x86_64-unknown-linux-musl`), musl-gcc (Debian/Ubuntu:
# `apt-get install musl-tools`; aws-lc-sys compiles C), a Docker engine, and a CA bundle at
# /etc/ssl/certs/ca-certificates.crt (package ca-certificates). scripts/test.sh installs the first two.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly target=x86_64-unknown-linux-musl
readonly tag=${DOCCLASS_IMAGE_TAG:-latest}
readonly target_dir=${CARGO_TARGET_DIR:-target}
readonly binaries=$target_dir/$target/image
readonly context=$target_dir/images/context
readonly ca_bundle=/etc/ssl/certs/ca-certificates.crt

fail() {
    echo "build-images.sh: $*" >&2
    exit 1
}

rustup target list --installed 2>/dev/null | grep -qx "$target" ||
    fail "the $target target is missing: rustup target add $target"
command -v musl-gcc >/dev/null || fail "musl-gcc is missing (aws-lc-sys compiles C): apt-get install musl-tools"
[[ -r $ca_bundle ]] || fail "no CA bundle at $ca_bundle: apt-get install ca-certificates"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (is dockerd running, and may this user use it?)"

# The `image` profile (Cargo.toml): release, stripped, no debug info — the size limit is 20 MB an image.
echo "build-images.sh: compiling static binaries for $target" >&2
export CC_x86_64_unknown_linux_musl=musl-gcc
cargo build --locked --quiet --profile image --target "$target" \
    -p feed-ingest -p topic-classifier -p subtopic-classifier -p table-writer
# Without `docclass deploy` (its four SDKs): nothing in a compose stack deploys to ECS.
cargo build --locked --quiet --profile image --target "$target" -p docclass --no-default-features

rm -rf "$context"
mkdir -p "$context"
cp "$binaries"/{feed-ingest,topic-classifier,subtopic-classifier,table-writer,docclass} "$ca_bundle" "$context/"
mkdir "$context/models" # the empty mount point of the model store volume (base.Dockerfile)
model=${DOCCLASS_MODEL:-}
if [[ -z $model ]]; then
    echo "build-images.sh: training the model baked into the classifier images (DOCCLASS_MODEL=FILE to bring one)" >&2
    model=$context/trained-model.bin
    "$binaries/docclass" --corpus "${DOCCLASS_CORPUS:-arxiv}" train --out "$model" >&2
fi
# Compressed (the services read either form): the arXiv model 60 % smaller, 20 Newsgroups' 2.5 MB instead of 6.
gzip -9 --no-name --stdout "$model" >"$context/model.bin"
rm -f "$context/trained-model.bin"

# OCI annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
source_url=$(sed -n '/^\[workspace.package\]/,/^\[/s/^repository = "\(.*\)"/\1/p' Cargo.toml)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $revision != unknown && -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    revision+="-dirty"
fi
labels=(
    --label "org.opencontainers.image.version=$version"
    --label "org.opencontainers.image.revision=$revision"
    --label "org.opencontainers.image.source=$source_url"
    --label "org.opencontainers.image.licenses=Apache-2.0"
)

build() { # image name, Dockerfile
    docker build --quiet "${labels[@]}" --label "org.opencontainers.image.title=$1" \
        --build-arg "BASE=docclass-base:$tag" -t "$1:$tag" -f "$2" "$context" >/dev/null
}
build docclass-base Dockerfiles/base.Dockerfile
for service in feed-ingest topic-classifier subtopic-classifier table-writer cli; do
    build "docclass-$service" "Dockerfiles/$service.Dockerfile"
done
docker image ls --filter "reference=docclass-*:$tag" --format '{{.Repository}}:{{.Tag}}\t{{.Size}}'
