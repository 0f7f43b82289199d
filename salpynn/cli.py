"""The ``salpynn`` command line: one parser, five subcommands.

``salpynn run EXPERIMENT [--config F] [--set key=value ...] [--seed N] [--backend B] [--out DIR]``
``salpynn sweep FILE``, ``salpynn plot FOLDER...``, ``salpynn analyse PATH``,
``salpynn build [--force]``

Experiments and their parameters come from :mod:`salpynn.experiments` (the registry) and their
configuration dataclasses, so the help texts list exactly what ``--set`` accepts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from salpynn import experiments, safety
from salpynn.build import ModuleNotBuiltError
from salpynn.config import ConfigError, describe, load_config
from salpynn.mpi import launcher_rank_size
from salpynn.results import config_hash

__all__ = ["build_parser", "main"]


def _parameter_listing() -> str:
    blocks = []
    for name in experiments.names():
        experiment = experiments.get(name)
        blocks.append(f"{name}: {experiment.description}\n{describe(experiment.config)}")
    return (
        "parameters of each experiment (set with --set key=value; blocks such as the SAL rule "
        "with dotted names, e.g. --set rule.eta=0.005):\n\n" + "\n\n".join(blocks)
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="JSON file with parameter values")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter, e.g. --set rule.eta=0.005 (repeatable)",
    )
    parser.add_argument("--seed", type=int, help="random seed (overrides the config)")
    parser.add_argument(
        "--backend", choices=["nest", "brian2"], help="PyNN simulator (overrides the config)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: results/<name>/<hash>)")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar or intermediate output"
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    raw = argparse.RawDescriptionHelpFormatter
    listing = _parameter_listing()
    parser = argparse.ArgumentParser(
        prog="salpynn",
        description="Spike-based alignment learning (SAL) on NEST and PyNN.",
        epilog=listing,
        formatter_class=raw,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run an experiment", epilog=listing, formatter_class=raw)
    run_sub = run.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name in experiments.names():
        experiment = experiments.get(name)
        one = run_sub.add_parser(
            name,
            help=experiment.description,
            description=f"{name}: {experiment.description}",
            epilog=f"parameters (--set key=value):\n{describe(experiment.config)}",
            formatter_class=raw,
        )
        _add_run_options(one)

    sweep = sub.add_parser(
        "sweep",
        help="run a sweep file, spread over MPI ranks",
        description="Runs of one experiment over a grid of parameters and conditions; under "
        "mpirun -n K (NEST without MPI) ranks 1..K-1 run them. Finished runs are skipped.",
    )
    sweep.add_argument("file", type=Path, help="sweep file (JSON)")
    sweep.add_argument("--out", type=Path, help="result folder (overrides the file)")
    sweep.add_argument(
        "--conditions",
        type=lambda text: text.split(","),
        metavar="A,B,...",
        help="run only these conditions of the file, in this order (same run ids)",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")

    plot = sub.add_parser(
        "plot",
        help="paper figures from finished runs and sweeps",
        description="Figures of every experiment found in the folders (run folders or sweep "
        "folders): Fig. 2d-e from two-neuron runs, Figs. 4-5 from sampling runs.",
    )
    plot.add_argument("folders", nargs="+", type=Path, help="run folders or sweep folders")
    plot.add_argument("--out", type=Path, help="figure folder (default: the first folder)")
    plot.add_argument("--grid", type=int, default=9, help="drift-field grid points per axis")
    plot.add_argument(
        "--field-duration", type=float, default=100_000.0, help="drift-field model time (ms)"
    )

    analyse = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="rates, correlations, predicted SAL drift and sampling quality of a recording",
    )
    analyse.add_argument("path", type=Path, help="recording .nix file or run folder")
    analyse.add_argument(
        "--out", type=Path, help="output folder (default: analysis/ next to the recording)"
    )
    analyse.add_argument(
        "--tau-ref",
        type=float,
        metavar="MS",
        help="refractory time in ms (default: tau_ref of the recording's configuration)",
    )
    analyse.add_argument(
        "--epsilon",
        type=float,
        default=1e-10,
        help="pseudo-probability of unvisited states in D_KL (default: 1e-10)",
    )
    analyse.add_argument(
        "--max-pairs",
        type=int,
        default=2000,
        help="most reciprocal pairs for the drift prediction (random subset, seed 0)",
    )

    build = sub.add_parser("build", help="build the NEST module salpynnmodule (cached)")
    build.add_argument("--force", action="store_true", help="rebuild even if a build exists")
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    overrides += [f"seed={args.seed}"] if args.seed is not None else []
    overrides += [f"backend={args.backend}"] if args.backend else []
    return overrides


def _run(args: argparse.Namespace) -> int:
    experiment = experiments.get(args.experiment)
    config = load_config(experiment.config, args.config, _overrides(args))
    config.validate()  # before anything long starts
    if experiment.memory is not None:
        safety.check_memory(
            experiment.memory(config),
            f"this {args.experiment} configuration",
            "use fewer seeds, iterations or read-outs, or a machine with more memory",
        )
    out = args.out or Path("results") / args.experiment / config_hash(dataclasses.asdict(config))
    rank, size = launcher_rank_size()
    with _owned(out, size, rank, f"salpynn run {args.experiment}"):
        if experiment.announce is not None and rank == 0:
            print(experiment.announce(config, out), flush=True)
        summary = experiment.run(config, out, not args.no_progress)
    if summary is None:  # another MPI rank writes and reports
        return 0
    for line in experiment.report(summary) if experiment.report else []:
        print(line)
    print(f"wrote {', '.join(experiment.outputs)} to {out}")
    return _report_rescued()


@contextlib.contextmanager
def _owned(out: Path, size: int, rank: int, command: str) -> Iterator[None]:
    """The run folder, checked writable and locked by rank 0 for the whole run; under an MPI
    launcher every rank learns whether rank 0 got it."""
    if size == 1:
        with safety.run_folder(out, command) as lock:
            if lock.note:
                print(f"note: {lock.note}", flush=True)
            yield
        return
    from salpynn.mpi import allgather

    with contextlib.ExitStack() as stack:
        error = None
        if rank == 0:
            try:
                stack.enter_context(safety.run_folder(out, command))
            except ConfigError as err:
                error = str(err)
        errors = allgather(error, size)
        if errors[0] is not None:
            raise ConfigError(errors[0]) if rank == 0 else SystemExit(2)
        yield


def _report_rescued() -> int:
    rescued = safety.rescued()
    for intended, target, reason in rescued:
        print(
            f"salpynn: could not write {intended} ({reason}); kept it as {target}", file=sys.stderr
        )
    return 4 if rescued else 0


def _sweep(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from salpynn.sweep import load_sweep, run_sweep

    rank = MPI.COMM_WORLD.Get_rank()
    try:
        spec = load_sweep(args.file)
        if args.conditions:
            spec = spec.select(args.conditions)
        if args.out:
            spec.out = args.out
        spec.runs()  # validate every run before anything starts
    except (ConfigError, OSError, ValueError) as err:
        if rank == 0:
            print(f"salpynn sweep: error: {err}", file=sys.stderr)
        return 2
    rows, failed = run_sweep(spec, progress=not args.no_progress)
    if rank == 0:
        done = sum(r["status"] == "done" for r in rows)
        print(f"sweep: {done} done, {failed} failed; table {spec.out / 'summary.csv'}")
    return 1 if failed else 0


def _plot(args: argparse.Namespace) -> int:
    from salpynn.results import finished_runs

    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        raise ConfigError(f"not a folder: {', '.join(missing)}")
    if not 2 <= args.grid <= 50:
        raise ConfigError(f"--grid must be in [2, 50], got {args.grid}")
    out = args.out or args.folders[0]
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name in experiments.names():
        experiment = experiments.get(name)
        runs = finished_runs(args.folders, name) if experiment.figures else []
        if runs:
            paths += experiment.figures(
                runs, out, grid=args.grid, field_duration=args.field_duration
            )
    if not paths:
        raise ConfigError("no finished runs with figures found (two-neuron or sampling)")
    for path in paths:
        print(f"wrote {path}")
    return 0


def _analyse(args: argparse.Namespace) -> int:
    from salpynn.analysis.report import analyse, summary_lines

    try:
        result = analyse(args.path, args.out, args.tau_ref, args.epsilon, args.max_pairs)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(str(err)) from err
    for line in summary_lines(result):
        print(line)
    return 0


def _build(args: argparse.Namespace) -> int:
    from salpynn.build import build_module

    build_module(force=args.force)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "sweep": _sweep,
    "plot": _plot,
    "analyse": _analyse,
    "analyze": _analyse,
    "build": _build,
}


def _kept(args: argparse.Namespace) -> str:
    """What an interrupted command leaves behind, in one sentence."""
    if args.command == "sweep":
        return "finished runs are kept; run the same command again to run the others"
    out = getattr(args, "out", None)
    if args.command == "run" and out is not None and any(out.glob("checkpoints/*.npz")):
        return (
            f"checkpoints are kept in {out / 'checkpoints'}; run the same command again to "
            f"resume from the last one"
        )
    if args.command == "run" and out is None:
        return (
            "runs that write checkpoints (sampling) resume from the last one when the same "
            "command runs again; other runs write their results only when they finish"
        )
    return "nothing of this run was written (results are written only when it finishes)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``salpynn`` command; returns the exit status (2: invalid input or an
    unreadable file, 3: the NEST module is missing or could not be built, 4: results could not
    be written where asked and were kept in a rescue folder, 130: interrupted)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"salpynn {args.command}: interrupted; {_kept(args)}", file=sys.stderr)
        return 130
    except ConfigError as err:
        print(f"salpynn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotBuiltError as err:
        print(f"salpynn {args.command}: error: {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
