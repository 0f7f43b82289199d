#!/usr/bin/env bash
# Build NEST 3.10 with MPI (the PyPI wheel has none) and the environment .venv-mpi that uses it.
#
# Only the models salpynn and PyNN's standard types need are compiled, which keeps a build from
# scratch on 2 cores under 20 minutes. The install prefix is cached under
# ~/.cache/salpynn/nest-mpi/<KEY>, so repeated runs (and new clones on the same machine) reuse it.
# KEY hashes only what the build depends on: the build recipe below (version and sha256 of the
# sources, models, CMake options, the configure and compile commands), the compilers' versions
# and Python's version. The rest of this script (checks, download, venv) can change freely.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SALPYNN_CACHE:-$HOME/.cache/salpynn}"
VENV="$ROOT/.venv-mpi"
LOCK="$ROOT/scripts/requirements-lock.txt"
JOBS="${SALPYNN_BUILD_JOBS:-$(nproc)}"
QUIET="${SALPYNN_SETUP_QUIET:-0}"

# --- build recipe: part of KEY -----------------------------------------------------------------
NEST_VERSION=3.10.0
# sha256 of nest_simulator-$NEST_VERSION.tar.gz on PyPI; a download with another digest is refused.
NEST_SDIST_SHA256=8fbd7df4a3e941784d4b1d5825ded234bdc915238faac0982c62e4cb80134d52
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
nest_configure() {  # <source dir> <build dir> <install prefix>
  cmake -S "$1" -B "$2" -DCMAKE_INSTALL_PREFIX="$3" "${CMAKE_OPTIONS[@]}" \
    "-Dwith-models=$(IFS=';'; echo "${MODELS[*]}")" -DPython_EXECUTABLE="$VENV/bin/python"
}
nest_compile() {  # <build dir>
  make -C "$1" -j"$JOBS" install
}
# --- end of the build recipe -------------------------------------------------------------------

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

# The key's inputs: the recipe's values, the configure and compile functions as bash prints them
# (comments and layout do not count), the compilers and Python.
key_inputs() {
  echo "nest-simulator $NEST_VERSION sha256 $NEST_SDIST_SHA256"
  echo "models: ${MODELS[*]}"
  echo "cmake options: ${CMAKE_OPTIONS[*]}"
  declare -f nest_configure nest_compile
  g++ --version
  mpicxx --showme:version 2>&1
  python3 --version
}
KEY="$(key_inputs | sha256sum | cut -c1-16)"
PREFIX="$CACHE/nest-mpi/$KEY"

# Download the sdist and check it against NEST_SDIST_SHA256, building nothing (`pip download
# --no-binary :all:` builds Cython and the other build requirements from source just to read the
# metadata: 149 s on 2 cores with an empty pip cache, against under a second for this).
# The file's URL and digest come from the package index's JSON API (PEP 691, the one pip uses;
# $PIP_INDEX_URL if set, else PyPI), with the HTML page (PEP 503) as the fallback.
fetch_sdist() {  # <target file>
  "$VENV/bin/python" - "$1" "$NEST_VERSION" "$NEST_SDIST_SHA256" <<'PY'
import hashlib
import html
import json
import os
import re
import ssl
import sys
import urllib.parse
import urllib.request
from pathlib import Path

target, version, expected = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
filename = f"nest_simulator-{version}.tar.gz"
index = (os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple").split()[0].rstrip("/")
context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
PEP691 = "application/vnd.pypi.simple.v1+json"


def fail(message):
    print(f"nest-mpi: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def open_url(url, accept=None):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file" and Path(urllib.request.url2pathname(parts.path)).is_dir():
        url = urllib.parse.urljoin(url.rstrip("/") + "/", "index.html")  # a local index
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    return urllib.request.urlopen(request, timeout=120, context=context)


def listed_files(page):
    """{filename: (url, sha256 or None)} from the project page of a simple index."""
    with open_url(page, f"{PEP691}, text/html;q=0.1") as response:
        base, kind, body = response.geturl(), response.headers.get_content_type(), response.read()
    if kind == PEP691:
        entries = json.loads(body)["files"]
        return base, {e["filename"]: (e["url"], e.get("hashes", {}).get("sha256")) for e in entries}
    files = {}  # PEP 503 HTML: <a href="URL#sha256=DIGEST">FILENAME</a>
    for href, name in re.findall(r'<a\s[^>]*href="([^"]+)"[^>]*>\s*([^<]+?)\s*</a>', body.decode()):
        url, _, fragment = html.unescape(href).partition("#")
        files[html.unescape(name)] = (url, fragment[7:] if fragment.startswith("sha256=") else None)
    return base, files


page = f"{index}/nest-simulator/"
try:
    page, files = listed_files(page)
except (OSError, ValueError, KeyError) as err:
    fail(f"could not read the file list {page}: {err}")
if filename not in files:
    fail(f"{page} does not list {filename}")
url, listed = files[filename]
if listed is not None and listed != expected:
    fail(f"{page} lists {filename} with sha256 {listed}, expected {expected}; refusing it")
url = urllib.parse.urljoin(page, url)
partial = target.with_name(f".{target.name}.{os.getpid()}.part")
digest = hashlib.sha256()
try:
    with open_url(url) as response, open(partial, "wb") as out:
        for chunk in iter(lambda: response.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        fail(f"{url} has sha256 {digest.hexdigest()}, expected {expected}; refusing it")
    os.replace(partial, target)
except OSError as err:
    fail(f"could not download {url}: {err}")
finally:
    partial.unlink(missing_ok=True)
PY
}

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
  if [ -f "$sdist" ] && [ "$(sha256sum < "$sdist" | cut -d' ' -f1)" != "$NEST_SDIST_SHA256" ]; then
    say "discarding $sdist: its sha256 is not the expected one"
    rm -f "$sdist"
  fi
  if [ ! -f "$sdist" ]; then
    say "downloading the nest-simulator $NEST_VERSION source distribution"
    fetch_sdist "$sdist" || die "could not download the NEST sources"
  fi
  tar xzf "$sdist" -C "$work"
  src="$work/nest_simulator-$NEST_VERSION"
  say "configuring NEST $NEST_VERSION with MPI, ${#MODELS[@]} models -> $PREFIX"
  nest_configure "$src" "$work/build" "$PREFIX" > "$work/cmake.log" 2>&1 \
    || { tail -40 "$work/cmake.log" >&2; die "cmake failed (log: $work/cmake.log)"; }
  say "compiling with $JOBS jobs (about 15-20 minutes on 2 cores; log: $work/make.log)"
  nest_compile "$work/build" > "$work/make.log" 2>&1 \
    || { tail -40 "$work/make.log" >&2; die "make failed (log: $work/make.log)"; }
  key_inputs > "$PREFIX/key-inputs.txt"
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
  "$VENV/bin/python" -m salpynn build >/dev/null || die "building salpynnmodule failed"
else
  "$VENV/bin/python" -m salpynn build || die "building salpynnmodule failed"
fi
say "ready: $VENV (NEST $NEST_VERSION with MPI)"
