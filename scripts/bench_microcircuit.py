"""Benchmark: the microcircuit experiment (paper Fig. 6) per epoch and per simulated second.

Measured in one run, one process at a time (run it on an otherwise idle machine):

1. salpynn (NEST through PyNN) on the paper's protocol, ``[1, 1, 1]`` with 1 and 20 seeds (copies
   in one kernel) and ``[4, 8, 8, 2]`` with 1 and 5 seeds;
2. the authors' NumPy simulator (``--authors DIR``, a checkout of unibe-cns/sal-code) on the
   same ``[1, 1, 1]`` protocol, installed into a throwaway venv under the system's temp folder
   (never into salpynn's environment).

Each cost is the difference between a run of ``E + 2`` and one of ``E`` epochs, divided by 2, so
that building, the teacher and the first validation cancel.  One epoch is 26 patterns of 2000
tau_ref = 520,000 steps = 52 s of model time (tau_ref = 1 ms).

    .venv/bin/python scripts/bench_microcircuit.py [--authors /tmp/sal-code] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_S_PER_EPOCH = 52.0


def salpynn_epoch_seconds(dims: str, seeds: int, epochs: int, work: Path) -> float:
    times = []
    for n in (epochs, epochs + 2):
        out = work / f"salpynn-{dims.replace(',', '-')}-{seeds}-{n}"
        cmd = [sys.executable, "-m", "salpynn", "run", "microcircuit", "--no-progress",
               "--set", f"dims={dims}", "--set", f"seeds={seeds}", "--set", f"epochs={n}",
               "--out", str(out)]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return (times[1] - times[0]) / 2


def authors_epoch_seconds(checkout: Path, epochs: int, work: Path) -> float:
    package = checkout / "spiking_microcircuits"
    script = checkout / "scripts" / "microcircuits" / "run.py"
    config = checkout / "scripts" / "microcircuits" / "sal" / "sal.yaml"
    if not (package.is_dir() and script.is_file() and config.is_file()):
        raise SystemExit(f"--authors {checkout}: not a checkout of unibe-cns/sal-code")
    venv = work / "authors-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "pyyaml", str(package)], check=True)
    reader = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
    done = subprocess.run([python, "-c", reader, str(config)], check=True, capture_output=True,
                          text=True)  # fmt: skip
    params = json.loads(done.stdout)
    times = []
    for n in (epochs, epochs + 2):
        folder = work / f"authors-{n}"
        folder.mkdir()
        params["student_simulation_settings"]["num_epochs"] = n
        path = folder / "sal.0000.yaml"
        path.write_text(json.dumps(params))  # JSON is YAML
        start = time.perf_counter()
        done = subprocess.run([python, str(script), str(path), "0"], capture_output=True,
                              text=True, cwd=folder)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"the authors' microcircuit run failed:\n{done.stderr[-3000:]}")
        times.append(time.perf_counter() - start)
    return (times[1] - times[0]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", type=Path, help="checkout of unibe-cns/sal-code")
    parser.add_argument("--epochs", type=int, default=1, help="E: runs of E and E + 2 epochs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="salpynn-bench-microcircuit-"))
    print(f"microcircuit benchmark (work folder {work}); one epoch = {MODEL_S_PER_EPOCH:g} s "
          "of model time")  # fmt: skip
    rows = {}
    for dims, seeds in (("1,1,1", 1), ("1,1,1", 20), ("4,8,8,2", 1), ("4,8,8,2", 5)):
        seconds = salpynn_epoch_seconds(dims, seeds, args.epochs, work)
        rows[dims, seeds] = seconds
        print(f"  salpynn [{dims}] x {seeds:2d} seeds: {seconds:7.2f} s per epoch, "
              f"{seconds / seeds:6.2f} s per seed-epoch, real-time factor "
              f"{seconds / MODEL_S_PER_EPOCH:.3f} (s per simulated s)")  # fmt: skip
    if args.authors is None:
        print("  authors' code: not measured (pass --authors <checkout of unibe-cns/sal-code>)")
        return
    authors = authors_epoch_seconds(args.authors.expanduser(), args.epochs, work)
    one, many = rows["1,1,1", 1], rows["1,1,1", 20]
    print(f"  authors' NumPy [1,1,1]:   {authors:7.2f} s per epoch, real-time factor "
          f"{authors / MODEL_S_PER_EPOCH:.3f}")  # fmt: skip
    print(f"  ratio authors / salpynn, one seed: {authors / one:.1f}x; per seed with 20 seeds "
          f"in one kernel: {authors / (many / 20):.1f}x")  # fmt: skip
    print(f"  the paper's 150 epochs x 20 seeds: authors {150 * 20 * authors / 3600:.1f} core-h, "
          f"salpynn {150 * many / 3600:.2f} core-h")  # fmt: skip


if __name__ == "__main__":
    main()
