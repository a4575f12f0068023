#!/usr/bin/env bash
# Installs what building and testing Paddock needs and is not in a fresh
# clone: the wasm32-wasip2 Rust target (plugins are WebAssembly components).
# Idempotent and quick when everything is present.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2
fi
