#!/usr/bin/env bash
# Type-checks the netdev addon for arm64 macOS on a Linux host: clang --target=arm64-apple-macos
# -fsyntax-only over hvfcheck's include stack (glibc headers with Darwin's 64-bit type sizes,
# hand-written Apple shims) plus darwin-shim/ (Darwin's sockaddr_un with sun_len; Linux-only
# socket flags and calls poisoned). __linux__ is not defined, so the tap code compiles out as
# on a Mac. Nothing is linked or run: Darwin socket behaviour is not checked (see darwin-shim/).
# Needs hvfcheck's setup.sh run once (clang-19, aarch64 glibc/libstdc++ headers, darwin-libc).
#   HVFCHECK_DIR  hvfcheck's folder (default /work/shared/tools/hvfcheck)
#   HVFCHECK_HOME its state (default ~/.cache/hvfcheck)
# Exit 0 = every file clean (warnings are errors here), 1 = diagnostics, 2 = setup missing.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOL="${HVFCHECK_DIR:-/work/shared/tools/hvfcheck}"
STATE="${HVFCHECK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/hvfcheck}"
CLANG="${CLANG:-clang++-19}"
A64=/usr/aarch64-linux-gnu/include
NODE_INC="$(dirname "$(dirname "$(node -p process.execPath)")")/include/node"
[ -f "$NODE_INC/uv.h" ] || NODE_INC="$HOME/.cache/node-gyp/$(node -p 'process.versions.node')/include/node"
for p in "$TOOL/shim/TargetConditionals.h" "$STATE/darwin-libc/stdint.h" "$A64/c++/12" "$ROOT/node_modules/node-addon-api/napi.h" "$NODE_INC/uv.h" "$NODE_INC/node_api.h"; do
  [ -e "$p" ] || { echo "check-macos: missing $p (run $TOOL/setup.sh; npm install)" >&2; exit 2; }
done
command -v "$CLANG" >/dev/null || { echo "check-macos: no $CLANG (run $TOOL/setup.sh)" >&2; exit 2; }
RES="$("$CLANG" -print-resource-dir)/include"
flags=(
  --target=arm64-apple-macos11.0 -fsyntax-only -x c++ -std=gnu++17 -fno-exceptions
  -nostdinc -nostdinc++ -U__nonnull -D_GNU_SOURCE -ferror-limit=50 -fno-color-diagnostics
  -Wall -Wextra -Wno-unused-parameter -Werror
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  -isystem "$HERE/darwin-shim" -isystem "$TOOL/shim"
  -isystem "$A64/c++/12" -isystem "$A64/c++/12/aarch64-linux-gnu" -isystem "$A64/c++/12/backward"
  -isystem "$RES" -isystem "$STATE/darwin-libc" -isystem "$A64"
  -I "$ROOT/node_modules/node-addon-api" -I "$HERE" -idirafter "$NODE_INC"
)
rc=0
for f in "$HERE"/*.cc; do
  if "$CLANG" "${flags[@]}" "$f"; then echo "check-macos: OK   ${f#"$ROOT"/}"; else echo "check-macos: FAIL ${f#"$ROOT"/}"; rc=1; fi
done
exit $rc
