#!/usr/bin/env bash
# One-command setup: system prerequisites, .venv with pinned dependencies, salpynnmodule.
# With --mpi also NEST built with MPI and .venv-mpi (scripts/build_nest_mpi.sh).
# Safe to run repeatedly: every step is skipped when its inputs have not changed.
set -euo pipefail

WITH_MPI=0
for arg in "$@"; do
  case "$arg" in
    --mpi) WITH_MPI=1 ;;
    -h|--help) echo "usage: scripts/setup.sh [--mpi]"; exit 0 ;;
    *) echo "setup: unknown option $arg (usage: scripts/setup.sh [--mpi])" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
LOCK="$ROOT/scripts/requirements-lock.txt"
QUIET="${SALPYNN_SETUP_QUIET:-0}"

say() { [ "$QUIET" = 1 ] || echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

# --- 1. System prerequisites (Debian package names) ---------------------------------------
missing=()
command -v g++ >/dev/null 2>&1 || missing+=(g++)
[ -f /usr/include/boost/type_index.hpp ] || missing+=(libboost-dev)     # NEST's headers use Boost
command -v mpicxx >/dev/null 2>&1 || missing+=(libopenmpi-dev)          # mpi4py, NEST with MPI
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed; install ${missing[*]} by hand"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  else
    die "missing system packages: ${missing[*]}
  Install them, e.g.:  sudo apt-get install ${missing[*]}"
  fi
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python >= 3.11 is required, python3 is $(python3 --version 2>&1)"

# --- 2. Virtual environment with pinned dependencies ---------------------------------------
stamp_value="$( (cat "$LOCK" "$ROOT/pyproject.toml"; python3 --version) | sha256sum | cut -c1-16)"
stamp_file="$VENV/.salpynn-deps"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV" || die "could not create $VENV"
fi
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_value" ]; then
  say "installing pinned dependencies from $(basename "$LOCK") (a few minutes on a new machine)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$LOCK" \
    || die "pip could not install the pinned dependencies (see the messages above)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$ROOT" \
    || die "pip could not install salpynn itself"
  echo "$stamp_value" > "$stamp_file"
else
  say "dependencies up to date"
fi

# --- 3. The NEST extension module (cached under ~/.cache/salpynn, keyed by a hash) ------------
if [ "$QUIET" = 1 ]; then
  "$VENV/bin/python" -m salpynn build >/dev/null || die "building salpynnmodule failed"
else
  "$VENV/bin/python" -m salpynn build || die "building salpynnmodule failed"
fi
if [ "$WITH_MPI" = 1 ]; then
  bash "$ROOT/scripts/build_nest_mpi.sh" || die "building NEST with MPI failed"
fi
say "ready"
