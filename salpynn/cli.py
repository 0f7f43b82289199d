"""The ``salpynn`` command line.

``salpynn run two-neuron|recurrent|sampling [--config F] [--set key=value ...] [--seed N]
[--backend nest|brian2] [--out DIR]``
``salpynn sweep FILE``, ``salpynn plot FOLDER...``, ``salpynn analyse ...``
``salpynn build [--force]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from salpynn.build import ModuleNotBuiltError
from salpynn.config import ConfigError, load_config
from salpynn.results import config_hash

__all__ = ["main"]


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="JSON file with parameter values")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter (repeatable)",
    )
    parser.add_argument("--seed", type=int, help="random seed (overrides the config)")
    parser.add_argument(
        "--backend", choices=["nest", "brian2"], help="PyNN simulator (overrides the config)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: results/<name>/<hash>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _configure(args: argparse.Namespace, config_cls: type, name: str) -> tuple[Any, Path]:
    """The validated configuration (file, then ``--set``, ``--seed``, ``--backend``) and the
    output folder; validation happens before anything long starts."""
    config = load_config(config_cls, args.config, _overrides(args))
    config.validate()
    out = args.out or Path("results") / name / config_hash(dataclasses.asdict(config))
    return config, out


def _run_two_neuron(args: argparse.Namespace) -> int:
    from salpynn.experiments.two_neuron import TwoNeuronConfig, run_two_neuron, write_outputs

    config, out = _configure(args, TwoNeuronConfig, "two-neuron")
    if _mpi_rank() == 0:
        print(
            f"two-neuron: w_12 = {config.w_12}, w_21 = {config.w_21}, eta = {config.eta}, "
            f"{config.duration / 1000:g} s model time, seed {config.seed} -> {out}"
        )
    result = run_two_neuron(config, progress=not args.no_progress)
    if result.rank != 0:  # under mpirun only rank 0 writes and reports
        return 0
    summary = write_outputs(result, out)
    print(
        f"final: w_12 = {summary['w_12_final']:+.4f}, w_21 = {summary['w_21_final']:+.4f} "
        f"(difference {summary['difference_initial']:+.3f} -> {summary['difference_final']:+.4f}, "
        f"sum {summary['sum_initial']:.3f} -> {summary['sum_final']:.4f}); "
        f"wall time {summary['wall_time_s']:.1f} s"
    )
    print(f"wrote summary.json, trajectory.csv, weights.png, recording.nix to {out}")
    return 0


def _run_recurrent(args: argparse.Namespace) -> int:
    from salpynn.experiments.recurrent import RecurrentConfig, run_recurrent

    config, out = _configure(args, RecurrentConfig, "recurrent")
    summary = run_recurrent(config, out, progress=not args.no_progress)
    if summary["ranks"] == 1 or _mpi_rank() == 0:
        print(
            f"recurrent: {config.n} neurons on {summary['ranks']} rank(s) x {config.threads} "
            f"thread(s): Var(W_ij - W_ji) {summary['asymmetry_initial']:.4f} -> "
            f"{summary['asymmetry_final']:.4f}; simulation {summary['simulation_time_s']:.1f} s"
        )
        print(f"wrote summary.json, weights.npz, recording.nix, weights.png to {out}")
    return 0


def _run_sampling(args: argparse.Namespace) -> int:
    from salpynn.experiments.sampling import SamplingConfig, condition_label, run_sampling

    config, out = _configure(args, SamplingConfig, "sampling")
    if _mpi_rank() == 0:
        print(
            f"sampling: {condition_label(config)}; {config.seeds} seeds x {config.iterations} "
            f"iterations, {config.n} neurons, {config.backend} -> {out}"
        )
    summary = run_sampling(config, out, progress=not args.no_progress)
    if summary is not None:
        print(f"wrote summary.json, metrics.csv, metrics.npz, weights.npz, learning.png to {out}")
    return 0


def _mpi_rank() -> int:
    """This process's MPI rank, read from the launcher's environment (no MPI initialisation)."""
    from salpynn.experiments import launcher_rank_size

    return launcher_rank_size()[0]


def _overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    overrides += [f"seed={args.seed}"] if args.seed is not None else []
    overrides += [f"backend={args.backend}"] if args.backend else []
    return overrides


EXPERIMENTS = {
    "two-neuron": _run_two_neuron,
    "recurrent": _run_recurrent,
    "sampling": _run_sampling,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="salpynn", description="Spike-based alignment learning on NEST and PyNN."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment")
    run.add_argument("experiment", choices=sorted(EXPERIMENTS))
    _add_run_options(run)
    sub.add_parser("analyse", help="analyse a recording (salpynn analyse -h for options)")
    sub.add_parser("sweep", help="run a sweep file, over MPI ranks (salpynn sweep -h)")
    sub.add_parser("plot", help="paper figures from finished runs (salpynn plot -h)")
    build = sub.add_parser("build", help="build the NEST module salpynnmodule")
    build.add_argument("--force", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``salpynn`` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("analyse", "analyze"):
        from salpynn.analysis.cli import main as analyse_main

        return analyse_main(argv[1:])
    if argv and argv[0] == "plot":
        from salpynn.experiments.figures import main as plot_main

        return plot_main(argv[1:])
    if argv and argv[0] == "sweep":
        from salpynn.sweep import main as sweep_main

        return sweep_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return EXPERIMENTS[args.experiment](args)
        if args.command == "build":
            from salpynn.build import main as build_main

            return build_main(["--force"] if args.force else [])
    except ConfigError as err:
        print(f"salpynn: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotBuiltError as err:
        print(f"salpynn: error: {err}", file=sys.stderr)
        return 3
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
