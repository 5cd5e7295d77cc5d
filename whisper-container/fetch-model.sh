#!/bin/sh
# GPU image build step: fetch the ggml model NAME with `npm run model` and keep it only when its SHA-256 is
# the pinned one, so an image never ships a model nobody checked.
#   fetch-model.sh NAME SHA256 DEST_DIR    -> DEST_DIR/ggml-NAME.bin
set -eu
name=${1:-}
sha=$(printf '%s' "${2:-}" | tr 'A-F' 'a-f')
dest=${3:-}

fail() {
  echo "fetch-model: $*" >&2
  exit 1
}

case "$name" in
  '' | *[!A-Za-z0-9._-]*) fail "MODEL_NAME must be a ggml model name such as large-v3-turbo (got '$name')" ;;
esac
case "$sha" in
  *[!0-9a-f]*) fail "MODEL_SHA256 is not a hex digest" ;;
esac
[ ${#sha} -eq 64 ] || fail "MODEL_SHA256 must be the 64-digit SHA-256 of ggml-$name.bin; an image with an unpinned model is refused"
[ -n "$dest" ] || fail "no destination folder"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
DATA_DIR=$work npm run --silent model -- "$name"
file=$work/models/ggml-$name.bin
[ -f "$file" ] || fail "npm run model wrote no models/ggml-$name.bin"
actual=$(sha256sum "$file" | cut -d ' ' -f 1)
[ "$actual" = "$sha" ] || fail "ggml-$name.bin has SHA-256 $actual, expected $sha"
mkdir -p "$dest"
mv "$file" "$dest/ggml-$name.bin"
echo "fetch-model: ggml-$name.bin verified ($sha)"
