#!/usr/bin/env bash
# Install footprint checks: each light package, installed alone into a clean venv, pulls only its
# declared dependencies and imports without loading third-party modules. Each package keeps its
# probe script in tests/footprint_probe.py (a plain script, not collected by pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="uv"; command -v uv >/dev/null 2>&1 || UV="python3 -m uv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

check() {  # check PACKAGE EXPECTED_DISTS...
    local pkg="$1"; shift
    local venv="$work/$pkg"
    $UV venv --quiet --python 3.11 "$venv"
    VIRTUAL_ENV="$venv" $UV pip install --quiet "./packages/$pkg"
    local got
    got="$(VIRTUAL_ENV="$venv" $UV pip freeze | sed -E 's/[ =@].*//' | tr 'A-Z_' 'a-z-' | sort | tr '\n' ' ')"
    local want
    want="$(printf '%s\n' "$@" | sort | tr '\n' ' ')"
    if [ "$got" != "$want" ]; then
        echo "footprint of $pkg: installed [$got], expected [$want]" >&2
        return 1
    fi
    (cd "$work" && RASTERET_LOCAL_DATASETS_PATH="$work/none.json" "$venv/bin/python" "$OLDPWD/packages/$pkg/tests/footprint_probe.py")
    echo "footprint of $pkg: ok ($got)"
}

check rasteret-catalog rasteret-catalog
if [ -f packages/rasteret-cog/tests/footprint_probe.py ]; then
    check rasteret-cog rasteret-cog numpy imagecodecs
fi
