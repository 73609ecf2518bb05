#!/usr/bin/env bash
# Type-checks the HVF addon (native/hvf/*.mm) on any host against the real macOS 15.0 SDK
# Hypervisor headers with hvfcheck: deployment target 11.0, warnings as errors, the same
# defines binding.gyp uses. Exit 0 = clean, 1 = diagnostics, 2 = hvfcheck or headers missing.
#   HVFCHECK=/path/to/hvfcheck/check.sh   (default: /work/shared/tools/hvfcheck/check.sh)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CHECK="${HVFCHECK:-/work/shared/tools/hvfcheck/check.sh}"
if [ ! -x "$CHECK" ]; then
  echo "hvfcheck.sh: $CHECK not found (set HVFCHECK to hvfcheck's check.sh)" >&2
  exit 2
fi
shopt -s nullglob
files=("$ROOT"/native/hvf/*.mm)
[ ${#files[@]} -gt 0 ] || { echo "hvfcheck.sh: no native/hvf/*.mm" >&2; exit 2; }
export HVF_STRICT=1
export HVF_MACOS_MIN="${HVF_MACOS_MIN:-11.0}"
export HVF_EXTRA="-DNAPI_VERSION=8 -DNODE_API_NO_EXTERNAL_BUFFERS_ALLOWED -I$ROOT/native/hvf ${HVF_EXTRA:-}"
exec "$CHECK" "${files[@]}"
