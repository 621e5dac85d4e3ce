#!/usr/bin/env bash
# Builds the web version of NN Microscope into web/dist/: index.html, the
# .wasm and its JS glue, and the MNIST files the page fetches when a scene
# needs them: a static folder that any file server can host:
#     web/build.sh && python3 -m http.server -d web/dist 8000
# It installs what it needs: Rust's wasm32-unknown-unknown target (rustup)
# and wasm-bindgen-cli at the version of the wasm-bindgen crate in
# Cargo.lock (cargo install, into the target folder).
# NNM_WEB_TARGET_DIR: the cargo target folder to build in (default: the
# usual one, CARGO_TARGET_DIR or ./target). NNM_WEB_DIST: the folder to
# write (default web/dist).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${NNM_WEB_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}"
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd)"
dist="${NNM_WEB_DIST:-web/dist}"

if ! rustc --print target-libdir --target wasm32-unknown-unknown >/dev/null 2>&1 \
    || [ ! -d "$(rustc --print target-libdir --target wasm32-unknown-unknown)" ]; then
    if ! command -v rustup >/dev/null; then
        echo "error: the wasm32-unknown-unknown target is missing and rustup is not here to add it" >&2
        exit 1
    fi
    echo "== adding Rust's wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [ -z "$version" ]; then
    echo "error: Cargo.lock names no wasm-bindgen version" >&2
    exit 1
fi
tools="$target_dir/web-tools"
bindgen="$tools/bin/wasm-bindgen"
if ! "$bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
    echo "== installing wasm-bindgen-cli $version (once)"
    # Its own lock file first; where the registry lacks a version it locks
    # (a mirror behind crates.io), the newest compatible ones.
    cargo install wasm-bindgen-cli --version "$version" --locked --root "$tools" \
        || cargo install wasm-bindgen-cli --version "$version" --root "$tools"
fi

echo "== building the .wasm"
# WebAssembly's 128-bit SIMD (every current browser has it): burn's matrix
# products use it.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
cargo build --profile web --target wasm32-unknown-unknown \
    --no-default-features --features web --bin nnm --target-dir "$target_dir"

echo "== generating the JS glue into $dist"
mkdir -p "$dist"
rm -f "$dist/nnm.js" "$dist/nnm_bg.wasm" "$dist/index.html"
"$bindgen" --target web --no-typescript --out-dir "$dist" --out-name nnm \
    "$target_dir/wasm32-unknown-unknown/web/nnm.wasm"
cp web/index.html "$dist/"
# The data sets the page fetches beside it rather than carrying in its
# .wasm (lab::data::FETCHED_BY_THE_PAGE), under the paths scenes name.
rm -rf "$dist/assets"
mkdir -p "$dist/assets/data"
cp assets/data/mnist10k-images-idx3-ubyte.gz assets/data/mnist10k-labels-idx1-ubyte.gz \
    "$dist/assets/data/"

wasm="$dist/nnm_bg.wasm"
bytes=$(wc -c <"$wasm")
gzipped=$(gzip -9 -c "$wasm" | wc -c)
awk -v b="$bytes" -v g="$gzipped" \
    'BEGIN { printf "web/dist ready: nnm_bg.wasm %.1f MB (%.1f MB gzipped)\n", b / 1e6, g / 1e6 }'
