#!/bin/sh
# cargo's rustc wrapper (.cargo/config.toml). Before anything of torch-sys is compiled, check the
# libtorch it will build against, so a missing or mismatched install says which command fixes it
# instead of failing deep in a C++ compile or the linker. Everything else passes straight through.
if [ "${CARGO_PKG_NAME:-}" = torch-sys ]; then
    expected=2.11.0
    version=$(sed -n "s/^__version__ = '\([^'+]*\).*/\1/p" "${LIBTORCH:-/nonexistent}/version.py" 2>/dev/null)
    if [ -z "$version" ]; then
        reason="no libtorch at ${LIBTORCH:-(LIBTORCH unset)}"
    elif [ "$version" != "$expected" ]; then
        reason="${LIBTORCH} holds torch $version, lcm needs torch $expected"
    fi
    if [ -n "${reason:-}" ]; then
        printf '\n  lcm: %s.\n  Fix: run `scripts/setup.sh` (or `make setup`) in the repository root, then build again.\n\n' "$reason" >&2
        exit 1
    fi
fi
exec "$@"
