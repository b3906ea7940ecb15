# Sourced by the recipes: finds the built plugin and the shipped model, with clear messages.
set -euo pipefail
LCM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GST_PLUGIN_PATH="$LCM_ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
LCM_MODEL=${LCM_MODEL:-$LCM_ROOT/models/natural-small.safetensors}
OPENCV_DATA=/usr/share/doc/opencv-doc/examples/data

die() { echo "lcm: $*" >&2; exit 1; }
[ -e "$LCM_ROOT/target/release/libgstlcm.so" ] || die "the plugin is not built: run \`make build\` first"
[ -e "$LCM_MODEL" ] || die "model $LCM_MODEL is missing (shipped models live in models/; train one with models/train-natural-small.sh)"
gst-inspect-1.0 lcm >/dev/null 2>&1 || die "GStreamer cannot load target/release/libgstlcm.so (run \`GST_PLUGIN_PATH=target/release gst-inspect-1.0 lcm\` to see why)"
