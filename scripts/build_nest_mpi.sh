#!/usr/bin/env bash
# Build NEST 3.10 with MPI (the PyPI wheel has none) and the environment .venv-mpi that uses it.
#
# Only the models salpynn and PyNN's standard types need are compiled, which keeps a build from
# scratch on 2 cores under 20 minutes. The install prefix is cached under
# ~/.cache/salpynn/nest-mpi/<hash of version, options, models and this script>, so repeated
# runs (and new clones on the same machine) reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SALPYNN_CACHE:-$HOME/.cache/salpynn}"
VENV="$ROOT/.venv-mpi"
LOCK="$ROOT/scripts/requirements-lock.txt"
NEST_VERSION=3.10.0
JOBS="${SALPYNN_BUILD_JOBS:-$(nproc)}"
QUIET="${SALPYNN_SETUP_QUIET:-0}"

# PyNN's NEST translations (pyNN/nest/standardmodels, on- and off-grid variants), the
# recorders PyNN creates, and what salpynn's own networks and tests use.
MODELS=(
  iaf_psc_alpha iaf_psc_exp iaf_psc_delta iaf_cond_alpha iaf_cond_exp aeif_cond_alpha
  aeif_cond_exp izhikevich gif_cond_exp hh_cond_exp_traub iaf_cond_exp_sfa_rr
  iaf_psc_delta_ps iaf_psc_exp_ps iaf_psc_alpha_multisynapse iaf_psc_exp_multisynapse
  pp_psc_delta parrot_neuron parrot_neuron_ps
  poisson_generator poisson_generator_ps spike_generator dc_generator ac_generator
  noise_generator step_current_generator gamma_sup_generator ppd_sup_generator
  spike_recorder multimeter weight_recorder
  static_synapse static_synapse_hom_w stdp_synapse stdp_synapse_hom tsodyks_synapse
  bernoulli_synapse quantal_stp_synapse
)
CMAKE_OPTIONS=(
  -Dwith-mpi=ON -Dwith-openmp=ON -Dwith-gsl=ON -Dwith-ltdl=ON -Dwith-python=ON
  -Dwith-hdf5=OFF -Dwith-optimize=-O2 -Dwith-warning=OFF
)

say() { [ "$QUIET" = 1 ] || echo "nest-mpi: $*"; }
die() { echo "nest-mpi: error: $*" >&2; exit 1; }

# --- system packages ---------------------------------------------------------------------
missing=()
for pkg_cmd in "g++:g++" "cmake:cmake" "mpicxx:libopenmpi-dev" "mpirun:openmpi-bin"; do
  command -v "${pkg_cmd%%:*}" >/dev/null 2>&1 || missing+=("${pkg_cmd##*:}")
done
[ -f /usr/include/boost/type_index.hpp ] || missing+=(libboost-dev)
[ -f /usr/include/gsl/gsl_rng.h ] || missing+=(libgsl-dev)
[ -f /usr/include/ltdl.h ] || missing+=(libltdl-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  else
    die "missing system packages: ${missing[*]}; install them, e.g. sudo apt-get install ${missing[*]}"
  fi
fi

KEY="$( (echo "$NEST_VERSION"; echo "${MODELS[*]}"; echo "${CMAKE_OPTIONS[*]}"; \
         cat "${BASH_SOURCE[0]}"; g++ --version; mpicxx --showme:version 2>&1; python3 --version) \
       | sha256sum | cut -c1-16)"
PREFIX="$CACHE/nest-mpi/$KEY"

# --- .venv-mpi: the pinned dependencies without the MPI-less wheel --------------------------
stamp_value="$( (grep -v '^nest-simulator' "$LOCK"; cat "$ROOT/pyproject.toml"; echo "$PREFIX") \
               | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
if [ "$(cat "$VENV/.salpynn-deps" 2>/dev/null)" != "$stamp_value" ]; then
  say "installing pinned dependencies into $VENV"
  grep -v '^nest-simulator' "$LOCK" > "$VENV/requirements-mpi.txt"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$VENV/requirements-mpi.txt" \
    "cython>=3.0" || die "pip install failed"
  # nest-simulator is provided by the MPI build below; install salpynn without dependency checks.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$ROOT" \
    || die "pip install -e failed"
  echo "$stamp_value" > "$VENV/.salpynn-deps"
fi

# --- NEST with MPI, cached ------------------------------------------------------------------
if [ -f "$PREFIX/.complete" ]; then
  say "NEST $NEST_VERSION with MPI up to date ($PREFIX)"
else
  start=$(date +%s)
  work="$CACHE/nest-mpi/build-$KEY"
  rm -rf "$work" && mkdir -p "$work" "$CACHE/sdist"
  sdist="$CACHE/sdist/nest_simulator-$NEST_VERSION.tar.gz"
  if [ ! -f "$sdist" ]; then
    say "downloading the nest-simulator $NEST_VERSION source distribution from PyPI"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-binary :all: --no-deps \
      "nest-simulator==$NEST_VERSION" -d "$CACHE/sdist" || die "could not download the NEST sources"
  fi
  tar xzf "$sdist" -C "$work"
  src="$work/nest_simulator-$NEST_VERSION"
  say "configuring NEST $NEST_VERSION with MPI, ${#MODELS[@]} models -> $PREFIX"
  models="$(IFS=';'; echo "${MODELS[*]}")"
  cmake -S "$src" -B "$work/build" -DCMAKE_INSTALL_PREFIX="$PREFIX" "${CMAKE_OPTIONS[@]}" \
    "-Dwith-models=$models" -DPython_EXECUTABLE="$VENV/bin/python" > "$work/cmake.log" 2>&1 \
    || { tail -40 "$work/cmake.log" >&2; die "cmake failed (log: $work/cmake.log)"; }
  say "compiling with $JOBS jobs (about 15-20 minutes on 2 cores; log: $work/make.log)"
  make -C "$work/build" -j"$JOBS" install > "$work/make.log" 2>&1 \
    || { tail -40 "$work/make.log" >&2; die "make failed (log: $work/make.log)"; }
  touch "$PREFIX/.complete"
  rm -rf "$work"
  say "built in $(( ($(date +%s) - start) / 60 )) min"
fi

# Make the MPI NEST importable from .venv-mpi.
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
nest_site="$(ls -d "$PREFIX"/lib/python3*/site-packages | head -1)"
echo "$nest_site" > "$site/salpynn-nest-mpi.pth"
"$VENV/bin/python" -c 'import os; os.environ["PYNEST_QUIET"]="1"; import nest; assert nest.build_info["have_mpi"], "NEST without MPI"' \
  || die "the NEST in $PREFIX does not import with MPI"

# --- salpynnmodule against this NEST (its own cache key) -------------------------------------
if [ "$QUIET" = 1 ]; then
  "$VENV/bin/python" -m salpynn.build >/dev/null || die "building salpynnmodule failed"
else
  "$VENV/bin/python" -m salpynn.build || die "building salpynnmodule failed"
fi
say "ready: $VENV (NEST $NEST_VERSION with MPI)"
