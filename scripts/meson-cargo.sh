#!/bin/sh
# meson's bridge to cargo, run from the source root so .cargo/config.toml applies.
#   meson-cargo.sh build SRC OUTPUT MODELS_DIR   build the plugin in release, copy it to OUTPUT
#   meson-cargo.sh test SRC                      run the whole test suite
set -eu
mode=$1 src=$2
case "$mode" in build) out=$(cd "$(dirname "$3")" && pwd)/$(basename "$3") ;; esac
cd "$src"
case "$mode" in
    build)
        LCM_INSTALLED_MODELS_DIR=$4 cargo build --release -p gst-plugin-lcm
        cp target/release/libgstlcm.so "$out"
        ;;
    test)
        cargo test --release --workspace
        ;;
esac
