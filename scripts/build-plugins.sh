#!/usr/bin/env bash
# Builds every plugin crate under plugins/ as a WebAssembly component
# (wasm32-wasip2, profile `plugin`: release without debug info) and stages each with its manifest:
#   $TARGET_DIR/plugins/<name>/       built-in plugins, installed on first start
#   $TARGET_DIR/test-plugins/<name>/  test plugins (plugins/testing/*), never installed by default
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

crates=()
declare -A stage_of
for manifest in plugins/*/paddock-plugin.toml plugins/testing/*/paddock-plugin.toml; do
    [ -f "$manifest" ] || continue
    dir=$(dirname "$manifest")
    # Plugins in other languages (plugins/testing/py-probe, js-probe) have no
    # Cargo.toml: their tests build them with the language's own toolchain.
    [ -f "$dir/Cargo.toml" ] || continue
    crate=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1)
    [ -n "$crate" ] || { echo "build-plugins: no crate name in $dir/Cargo.toml" >&2; exit 1; }
    crates+=("-p" "$crate")
    stage_of["$crate"]="$dir"
done

cargo build --profile plugin --target wasm32-wasip2 "${crates[@]}"

rm -rf "$target_dir/plugins" "$target_dir/test-plugins"
mkdir -p "$target_dir/plugins" "$target_dir/test-plugins"
for crate in "${!stage_of[@]}"; do
    dir=${stage_of[$crate]}
    case "$dir" in
        plugins/testing/*) dest="$target_dir/test-plugins/$(basename "$dir")" ;;
        *) dest="$target_dir/plugins/$(basename "$dir")" ;;
    esac
    wasm="$target_dir/wasm32-wasip2/plugin/${crate//-/_}.wasm"
    [ -f "$wasm" ] || { echo "build-plugins: $wasm was not built" >&2; exit 1; }
    mkdir -p "$dest"
    cp "$dir/paddock-plugin.toml" "$dest/"
    cp "$wasm" "$dest/"
done
echo "build-plugins: staged $(ls "$target_dir/plugins" | wc -l) built-in and $(ls "$target_dir/test-plugins" 2>/dev/null | wc -l) test plugin(s) in $target_dir"
