"""Cortical microcircuits whose top-down weights learn under SAL (paper Fig. 6).

A teacher-student regression on a hierarchy of spiking dendritic microcircuits
(:mod:`salpynn.networks.microcircuit`, NEST).  The protocol is the authors'
(``unibe-cns/sal-code``, ``scripts/microcircuits``), with ``tau_ref`` = 10 steps of 0.1 ms:

- **teacher**: the same architecture with forward weights ``teacher_weight`` (2.0; for wider
  ``dims`` a random teacher, see :meth:`MicrocircuitConfig.teacher_weights`), biases
  ``bias`` (-1), no feedback and no nudging; the target of an input value is its output
  potential averaged over the last ``pattern_tau - lag_tau`` of a pattern;
- **student**: forward weights and ``B`` from ``U(-init_range, init_range)`` (scaled by
  ``1 / sqrt(fan_in)`` beyond one neuron per layer), biases ``bias``;
- **epoch**: ``train_patterns`` (20) training inputs drawn with replacement from the 8
  training values, the last ``sym_patterns`` (5) of them symmetrisation patterns (apical gain
  1, interneurons disconnected, forward learning off, ``B`` plastic under SAL), then the 6
  validation inputs in order without plasticity;
- each pattern lasts ``pattern_tau`` (2000) ``tau_ref``; forward learning starts
  ``lag_tau`` (200) ``tau_ref`` after a pattern switch, and the self-predicting state is
  re-imposed every ``sync_tau`` (200) ``tau_ref`` during learning and after each
  symmetrisation pattern;
- **methods**: ``sal`` (``B`` learns under SAL), ``bp`` (``B = W^T`` at every sync: weight
  transport), ``fa`` (``B`` fixed; the symmetrisation patterns run with ``eta_b = 0``).

Validation loss (the authors' definition): per pattern the mean over outputs of ``(u_bar_out -
u_target)^2`` with ``u_bar_out`` the *nudged* output potential averaged after the lag (the
authors nudge in validation too); salpynn also reports ``val_loss_free``, the same with the free
prediction ``b + v_bas``, and measures both once before training (epoch 0, salpynn's addition).

``seeds`` independent students (seeds ``seed ... seed + seeds - 1``, each with its own
weights, pattern draws and teacher noise) run as copies in one NEST kernel.  A run checkpoints
after every epoch and resumes from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.config import ConfigError, check_choices, check_range, param, parse_sizes
from salpynn.experiments import Experiment, angle_changes
from salpynn.results import (
    atomic_write,
    atomic_write_json,
    atomic_write_npz,
    config_hash,
    run_record,
)

__all__ = ["EXPERIMENT", "METHODS", "MicrocircuitConfig", "run"]

METHODS = ("sal", "bp", "fa")
TRAIN_VALUES = (-3.0, -2.5, -2.0, -0.8, 0.8, 2.0, 2.5, 3.0)
VALIDATION_VALUES = (-2.7, -1.8, -0.5, 0.5, 1.8, 2.7)


@dataclass(frozen=True)
class MicrocircuitConfig:
    """Method, architecture, the authors' protocol and the run."""

    method: Literal["sal", "bp", "fa"] = param(
        "sal", "", "feedback: sal, bp (B = W^T), fa (B fixed)"
    )
    dims: str = param("1,1,1", "", "layer sizes, comma-separated: input, hidden..., output")
    epochs: int = param(150, "", "epochs (the authors' 150)")
    seeds: int = param(1, "", "independent students, one copy each in one kernel")
    pattern_tau: float = param(2000.0, "tau_ref", "length of a pattern")
    lag_tau: float = param(200.0, "tau_ref", "learning lag after a pattern switch")
    avg_window_tau: float = param(200.0, "tau_ref", "window of the dendritic averages")
    sync_tau: float = param(200.0, "tau_ref", "interval of the self-predicting-state sync")
    train_patterns: int = param(20, "", "training patterns per epoch (drawn with replacement)")
    sym_patterns: int = param(5, "", "of which the last are symmetrisation patterns")
    lambda_apical: float = param(0.02, "", "apical gain of hidden cells")
    lambda_nudge: float = param(0.6, "", "nudging gain of output cells")
    eta_hidden: float = param(0.2, "", "forward learning rate of hidden layers")
    eta_output: float = param(0.003, "", "forward learning rate of the output layer")
    eta_b: float = param(0.001, "", "SAL learning rate of B in symmetrisation patterns")
    sal_pairing: Literal["nearest", "all"] = param(
        "nearest",
        "",
        "spike pairing of B's SAL window: nearest (the authors' n_last_spks = 1; biased by the "
        "unequal rates: B settles below W) or all (every pair in the window: no bias)",
    )
    bias: float = param(-1.0, "", "bias of every teacher and student cell")
    init_range: float = param(3.0, "", "student W and B ~ U(-r, r) (/ sqrt(fan_in))")
    teacher_weight: float = param(2.0, "", "teacher forward weight for one cell per layer")
    teacher_pattern_tau: float = param(2000.0, "tau_ref", "teacher pattern length")
    tau_ref: float = param(1.0, "ms", "refractory time = PSP length (10 steps)")
    resolution: float = param(0.1, "ms", "time step")
    threads: int = param(1, "", "NEST threads per MPI rank")
    seed: int = param(1, "", "first seed (weights, patterns, simulator)")
    backend: Literal["nest"] = param(
        "nest", "", "PyNN simulator (the dendritic averages are NEST only)"
    )

    def sizes(self) -> tuple[int, ...]:
        return parse_sizes("dims", self.dims)

    def validate(self) -> None:
        sizes = self.sizes()
        if len(sizes) < 3 or any(not 1 <= n <= 10_000 for n in sizes):
            raise ConfigError(
                "dims must be at least 3 sizes in [1, 10000] (input, hidden..., output), "
                f"got {self.dims!r}"
            )
        check_range("epochs", self.epochs, 1, 100_000)
        check_range("seeds", self.seeds, 1, 1000)
        check_range("tau_ref", self.tau_ref, 2 * self.resolution, 1000.0)
        check_range("resolution", self.resolution, 0.0, 1.0, low_open=True)
        check_range("pattern_tau", self.pattern_tau, 1.0, 1e7)
        check_range("lag_tau", self.lag_tau, 0.0, self.pattern_tau, high_open=True)
        check_range("avg_window_tau", self.avg_window_tau, 0.0, 1e7, low_open=True)
        check_range("sync_tau", self.sync_tau, 0.0, 1e7, low_open=True)
        check_range(
            "teacher_pattern_tau", self.teacher_pattern_tau, self.lag_tau, 1e7, low_open=True
        )
        check_range("train_patterns", self.train_patterns, 1, 100_000)
        check_range("sym_patterns", self.sym_patterns, 0, self.train_patterns - 1)
        check_range("lambda_apical", self.lambda_apical, 0.0, 10.0)
        check_range("lambda_nudge", self.lambda_nudge, 0.0, 1.0)
        for name in ("eta_hidden", "eta_output", "eta_b"):
            check_range(name, getattr(self, name), 0.0, 100.0)
        check_range("bias", self.bias, -20.0, 20.0)
        check_range("init_range", self.init_range, 0.0, 100.0)
        check_range("teacher_weight", self.teacher_weight, -100.0, 100.0)
        check_range("threads", self.threads, 1, 256)
        check_range("seed", self.seed, 1, 2**31 - 1)
        check_choices(self)
        for name in ("pattern_tau", "lag_tau", "avg_window_tau", "sync_tau", "teacher_pattern_tau"):
            steps = getattr(self, name) * self.tau_ref / self.resolution
            if abs(steps - round(steps)) > 1e-6:
                raise ConfigError(
                    f"{name} * tau_ref must be a whole number of time steps ({self.resolution} ms)"
                )

    # ----------------------------------------------------------- derived values

    def ms(self, taus: float) -> float:
        """A duration in tau_ref as ms on the time grid."""
        return round(taus * self.tau_ref / self.resolution) * self.resolution

    def eta_up(self) -> tuple[float, ...]:
        n = len(self.sizes()) - 1
        return (self.eta_hidden,) * (n - 1) + (self.eta_output,)

    def shapes(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        s = self.sizes()
        forward = [(s[i + 1], s[i]) for i in range(len(s) - 1)]
        feedback = [(s[i], s[i + 1]) for i in range(1, len(s) - 1)]
        return forward, feedback

    def teacher_weights(self) -> list[np.ndarray]:
        """``(seeds, n_out, n_in)`` per layer: ``teacher_weight`` where a layer has one input
        and one output cell (the paper's [1, 1, 1]); otherwise ``U(-2, 2) * teacher_weight / 2
        / sqrt(fan_in)`` drawn per seed (a random teacher of the student's shape)."""
        forward, _ = self.shapes()
        out = []
        for k, (n_out, n_in) in enumerate(forward):
            if n_out == n_in == 1:
                out.append(np.full((self.seeds, 1, 1), self.teacher_weight))
                continue
            draws = [
                np.random.default_rng([self.seed + i, 7, k]).uniform(-1, 1, (n_out, n_in))
                for i in range(self.seeds)
            ]
            out.append(np.array(draws) * self.teacher_weight / np.sqrt(n_in))
        return out

    def initial(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Student ``W`` (per forward layer) and ``B`` (per hidden layer), ``(seeds, ...)``: per
        seed, in the authors' order (hidden W, then B, then output W for [1, 1, 1])."""
        forward, feedback = self.shapes()
        ws = [[] for _ in forward]
        bs = [[] for _ in feedback]
        for i in range(self.seeds):
            rng = np.random.default_rng(self.seed + i)
            order = (
                [("W", 0)]
                + [("B", k) for k in range(len(feedback))]
                + [("W", k) for k in range(1, len(forward))]
            )
            for kind, k in order:
                n_out, n_in = forward[k] if kind == "W" else feedback[k]
                r = self.init_range / np.sqrt(n_in)
                (ws if kind == "W" else bs)[k].append(rng.uniform(-r, r, (n_out, n_in)))
        return [np.array(w) for w in ws], [np.array(b) for b in bs]

    def pattern_orders(self, epoch: int) -> np.ndarray:
        """``(seeds, train_patterns)`` indices into :data:`TRAIN_VALUES` of an epoch."""
        return np.array(
            [
                np.random.default_rng([self.seed + i, 11, epoch]).integers(
                    0, len(TRAIN_VALUES), self.train_patterns
                )
                for i in range(self.seeds)
            ]
        )


def alignment_errors(w: list[np.ndarray], b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per seed and hidden layer ``l``: ``||B[l] - W[l+1]^T||_F / ||W[l+1]||_F`` and the angle
    (degrees) between ``B[l]^T`` and ``W[l+1]``; arrays ``(seeds, hidden layers)``."""
    from salpynn.analysis.alignment import alignment_angle

    seeds = w[0].shape[0]
    err = np.zeros((seeds, len(b)))
    angle = np.zeros((seeds, len(b)))
    for layer, bl in enumerate(b):
        w_next = w[layer + 1]
        for s in range(seeds):
            wt = w_next[s].T
            err[s, layer] = np.linalg.norm(bl[s] - wt) / max(np.linalg.norm(wt), 1e-300)
            angle[s, layer] = alignment_angle(w_next[s], bl[s].T)
    return err, angle


# --------------------------------------------------------------------------- the run


def _network(
    config: MicrocircuitConfig,
    backend: Any,
    seed: int,
    w: list[np.ndarray],
    b: list[np.ndarray] | None,
    teacher: bool = False,
) -> Any:
    """A fresh simulator (``seed``) with the student (or the teacher) of ``config`` in it."""
    from salpynn.networks.microcircuit import Microcircuit, MicrocircuitParameters

    sizes = config.sizes()
    backend.setup(timestep=config.resolution, seed=seed, threads=config.threads)
    params = MicrocircuitParameters(
        dims=sizes,
        copies=config.seeds,
        tau_ref=config.tau_ref,
        delay=config.resolution,
        avg_window=config.ms(config.avg_window_tau),
        lambda_apical=config.lambda_apical,
        lambda_nudge=config.lambda_nudge,
        eta_up=config.eta_up(),
        eta_b=config.eta_b if config.method == "sal" else 0.0,
        sal_pairing=config.sal_pairing,
        teacher=teacher,
    )
    biases = [np.full((config.seeds, n), config.bias) for n in sizes[1:]]
    return Microcircuit(backend, params, w, b, biases).build()


def _teacher_targets(config: MicrocircuitConfig, backend: Any) -> dict[float, np.ndarray]:
    """Target output potentials per input value, ``(seeds, n_out)``, from the teacher in NEST."""
    teacher = _network(
        config, backend, config.seed + 500_000, config.teacher_weights(), None, teacher=True
    )
    lag = config.ms(config.lag_tau)
    rest = config.ms(config.teacher_pattern_tau - config.lag_tau)
    targets = {}
    for x in (*TRAIN_VALUES, *VALIDATION_VALUES):
        teacher.set_inputs(np.full(config.sizes()[0], x))
        targets[x] = teacher.mean_output(lag, rest)[0]
    backend.sim.end()
    return targets


class _Trainer:
    """The student network and the protocol's phases."""

    def __init__(
        self,
        config: MicrocircuitConfig,
        backend: Any,
        targets: dict[float, np.ndarray],
        w: list[np.ndarray],
        b: list[np.ndarray],
        nest_seed: int,
    ) -> None:
        self.config, self.backend, self.targets = config, backend, targets
        self.net = _network(config, backend, nest_seed, w, b)
        self.transport = config.method == "bp"
        self.max_sync_drift = 0.0
        self.sync()

    def sync(self) -> None:
        self.max_sync_drift = max(self.max_sync_drift, self.net.sync(transport=self.transport))

    def present(self, values: np.ndarray) -> None:
        """Inputs and targets of one pattern (one input value per seed)."""
        n_in = self.config.sizes()[0]
        self.net.set_inputs(np.repeat(values[:, None], n_in, axis=1))
        self.net.set_targets(np.array([self.targets[float(x)][s] for s, x in enumerate(values)]))

    def train_pattern(self, values: np.ndarray) -> None:
        c, run = self.config, self.backend.sim.run
        self.present(values)
        run(c.ms(c.lag_tau))
        self.net.set_learning(True)
        left = c.ms(c.pattern_tau - c.lag_tau)
        chunk = c.ms(c.sync_tau)
        while left > 1e-9:
            step = min(chunk, left)
            run(step)
            left = round((left - step) / c.resolution) * c.resolution
            self.sync()
        self.net.set_learning(False)

    def symmetrisation_pattern(self, values: np.ndarray) -> None:
        c = self.config
        self.present(values)
        self.net.set_symmetrisation(True)
        self.backend.sim.run(c.ms(c.pattern_tau))
        self.net.set_symmetrisation(False, transport=self.transport)  # and syncs

    def validate(self) -> tuple[np.ndarray, np.ndarray]:
        """Validation losses per seed: (nudged, free)."""
        c = self.config
        nudged, free = [], []
        for x in VALIDATION_VALUES:
            self.present(np.full(c.seeds, x))
            u, f = self.net.mean_output(c.ms(c.lag_tau), c.ms(c.pattern_tau - c.lag_tau))
            nudged.append(((u - self.targets[x]) ** 2).mean(axis=1))
            free.append(((f - self.targets[x]) ** 2).mean(axis=1))
        return np.mean(nudged, axis=0), np.mean(free, axis=0)

    def epoch(self, epoch: int) -> None:
        c = self.config
        orders = c.pattern_orders(epoch)
        values = np.asarray(TRAIN_VALUES)[orders]
        for k in range(c.train_patterns):
            if k >= c.train_patterns - c.sym_patterns:
                self.symmetrisation_pattern(values[:, k])
            else:
                self.train_pattern(values[:, k])


def _row(
    epoch: int, losses: tuple[np.ndarray, np.ndarray], w: list[np.ndarray], b: list[np.ndarray]
) -> np.ndarray:
    """One history row per seed: epoch, nudged and free loss, alignment error and angle per
    hidden layer, then every W and B entry."""
    err, angle = alignment_errors(w, b)
    seeds = w[0].shape[0]
    flat = [m.reshape(seeds, -1) for m in (*w, *b)]
    return np.column_stack([np.full(seeds, epoch), losses[0], losses[1], err, angle, *flat])


def run(config: MicrocircuitConfig, out: Path, progress: bool = True) -> dict[str, Any] | None:
    """Run (or resume) the teacher-student training; rank 0 writes ``summary.json``,
    ``history.npz``, ``metrics.csv`` and ``microcircuit.png`` and returns the summary."""
    from tqdm import tqdm

    from salpynn.pynn import load_backend

    config.validate()
    w, b = config.initial()
    key = config_hash({k: v for k, v in run_record(config)["config"].items() if k != "epochs"})
    checkpoint = out / "checkpoint.npz"
    start_epoch, history, targets = 0, [], None
    if checkpoint.is_file():
        from salpynn.safety import load_npz

        saved = load_npz(checkpoint, "checkpoint", "delete it to start the run again from epoch 0")
        if str(saved["key"]) == key:
            start_epoch = int(saved["epoch"])
            w = [saved[f"W{i}"] for i in range(len(w))]
            b = [saved[f"B{i}"] for i in range(len(b))]
            history = list(saved["history"])
            targets = {
                x: saved["targets"][i] for i, x in enumerate((*TRAIN_VALUES, *VALIDATION_VALUES))
            }

    backend = load_backend(config.backend)
    t0 = time.perf_counter()
    if targets is None:
        targets = _teacher_targets(config, backend)
    trainer = _Trainer(config, backend, targets, w, b, nest_seed=config.seed + 1000 * start_epoch)
    rank = backend.sim.rank()
    echo = progress and rank == 0
    if not history:
        losses = trainer.validate()
        history = [_row(0, losses, trainer.net.forward_weights(), trainer.net.feedback_weights())]
    bar = tqdm(
        total=config.epochs,
        initial=start_epoch,
        desc=f"microcircuit {config.method}",
        unit="epoch",
        disable=not echo,
    )
    n_hidden = len(config.sizes()) - 2
    target_array = np.array([targets[x] for x in (*TRAIN_VALUES, *VALIDATION_VALUES)])
    with bar:
        for epoch in range(start_epoch, config.epochs):
            trainer.epoch(epoch)
            losses = trainer.validate()
            w, b = trainer.net.forward_weights(), trainer.net.feedback_weights()
            history.append(_row(epoch + 1, losses, w, b))
            if rank == 0:
                atomic_write_npz(
                    checkpoint,
                    key=np.array(key),
                    epoch=np.array(epoch + 1),
                    history=np.array(history),
                    targets=target_array,
                    **{f"W{i}": m for i, m in enumerate(w)},
                    **{f"B{i}": m for i, m in enumerate(b)},
                )
            bar.update()
            if echo:
                angles = np.median(history[-1][:, 3 + n_hidden : 3 + 2 * n_hidden], axis=0)
                bar.set_postfix_str(
                    f"loss {np.median(losses[0]):.2e}, angle "
                    + ", ".join(f"{a:.0f}" for a in angles)
                )
    wall = time.perf_counter() - t0
    drift = trainer.max_sync_drift
    # Collective reads: every rank, before the kernel ends.
    w, b = trainer.net.forward_weights(), trainer.net.feedback_weights()
    backend.sim.end()
    if rank != 0:
        return None
    return _write(config, out, np.array(history), w, b, targets, wall, drift, start_epoch)


def _median_list(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.median(values, axis=0)]


def _write(
    config: MicrocircuitConfig,
    out: Path,
    history: np.ndarray,
    w: list[np.ndarray],
    b: list[np.ndarray],
    targets: dict[float, np.ndarray],
    wall: float,
    drift: float,
    start_epoch: int,
) -> dict[str, Any]:
    """history: (epochs + 1, seeds, columns)."""
    out.mkdir(parents=True, exist_ok=True)
    n_hidden = len(b)
    atomic_write_npz(
        out / "history.npz",
        history=history,
        **{f"W{i}": m for i, m in enumerate(w)},
        **{f"B{i}": m for i, m in enumerate(b)},
    )
    header = "epoch,val_loss,val_loss_free," + ",".join(
        [f"alignment_error_{i + 1}" for i in range(n_hidden)]
        + [f"angle_{i + 1}" for i in range(n_hidden)]
    )
    medians = np.median(history[:, :, : 3 + 2 * n_hidden], axis=1)
    atomic_write(
        out / "metrics.csv",
        lambda tmp: np.savetxt(tmp, medians, delimiter=",", header=header, comments=""),
    )
    first, last = history[0], history[-1]
    err0, err1 = first[:, 3 : 3 + n_hidden], last[:, 3 : 3 + n_hidden]
    ang0, ang1 = first[:, 3 + n_hidden : 3 + 2 * n_hidden], last[:, 3 + n_hidden : 3 + 2 * n_hidden]
    epochs_run = config.epochs - start_epoch
    model_s = (
        epochs_run
        * (config.train_patterns + len(VALIDATION_VALUES))
        * config.ms(config.pattern_tau)
        / 1000.0
    )
    summary = {
        "experiment": "microcircuit",
        "method": config.method,
        "dims": list(config.sizes()),
        "seeds": list(range(config.seed, config.seed + config.seeds)),
        "val_loss_initial": float(np.median(first[:, 1])),
        "val_loss_final": float(np.median(last[:, 1])),
        "val_loss_free_initial": float(np.median(first[:, 2])),
        "val_loss_free_final": float(np.median(last[:, 2])),
        "alignment_error_initial": _median_list(err0),
        "alignment_error_final": _median_list(err1),
        "angle_initial": _median_list(ang0),
        "angle_final": _median_list(ang1),
        "W_final": [m.tolist() for m in w],
        "B_final": [m.tolist() for m in b],
        "teacher_weights": [m.tolist() for m in config.teacher_weights()],
        "targets": {f"{x:g}": v.tolist() for x, v in targets.items()},
        "per_seed": {
            "val_loss_final": last[:, 1].tolist(),
            "val_loss_free_final": last[:, 2].tolist(),
            "alignment_error_final": err1.tolist(),
            "angle_final": ang1.tolist(),
        },
        "max_sync_drift": drift,
        "wall_s": round(wall, 3),
        "model_time_s": model_s,
        "seconds_per_epoch": round(wall / max(epochs_run, 1), 3),
        "resumed_from_epoch": start_epoch,
        **run_record(config),
    }
    plot_run(history, n_hidden, config, out / "microcircuit.png")
    atomic_write_json(out / "summary.json", summary)
    return summary


def plot_run(history: np.ndarray, n_hidden: int, config: MicrocircuitConfig, path: Path) -> Path:
    """Validation loss (median and IQR over seeds), per-layer angles and the first seed's
    weights against epochs."""
    from salpynn.analysis.plots import pyplot, save_png

    fig, axes = pyplot().subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    epochs = history[:, 0, 0]
    for column, label in ((1, "nudged (authors')"), (2, "free")):
        q = np.percentile(history[:, :, column], [25, 50, 75], axis=1)
        axes[0].plot(epochs, q[1], label=label)
        axes[0].fill_between(epochs, q[0], q[2], alpha=0.2)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("validation loss")
    axes[0].legend(fontsize=7, frameon=False)
    for layer in range(n_hidden):
        axes[1].plot(
            epochs, np.median(history[:, :, 3 + n_hidden + layer], axis=1), label=f"B{layer + 1}"
        )
    axes[1].set_ylabel("angle(B^T, W) (deg)")
    axes[1].legend(fontsize=7, frameon=False)
    forward, feedback = config.shapes()
    names = [f"W{i}" for i in range(len(forward))] + [f"B{i + 1}" for i in range(len(feedback))]
    sizes = [a * c for a, c in (*forward, *feedback)]
    column = 3 + 2 * n_hidden
    for name, size in zip(names, sizes, strict=True):
        if size == 1:
            axes[2].plot(epochs, history[:, 0, column], label=name)
        column += size
    axes[2].axhline(config.teacher_weight, color="0.5", lw=0.8, ls="--")
    axes[2].set_ylabel("weight (first seed)")
    axes[2].legend(fontsize=7, frameon=False)
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.suptitle(f"microcircuit {config.method}, dims {config.dims}", fontsize=10)
    return save_png(fig, path)


_COLOURS = {"sal": "C0", "sal-all": "C9", "bp": "C2", "fa": "C3"}
#: Groups of runs in figures and tables: the method, and SAL's all-pairs option apart.
LABELS = ("sal", "sal-all", "bp", "fa")


def _label(summary: dict[str, Any]) -> str:
    pairing = summary.get("config", {}).get("sal_pairing", "nearest")
    return "sal-all" if summary["method"] == "sal" and pairing == "all" else summary["method"]


def _load_groups(runs: list[tuple[Path, dict[str, Any]]]) -> dict[tuple[str, str], list[Any]]:
    """(dims, method) -> [(history, summary)], histories ``(epochs + 1, seeds, columns)``."""
    from salpynn.safety import load_npz

    groups: dict[tuple[str, str], list[Any]] = {}
    for folder, summary in runs:
        data = load_npz(folder / "history.npz", "history", "run the experiment again")
        dims = ",".join(str(n) for n in summary["dims"])
        groups.setdefault((dims, _label(summary)), []).append((data["history"], summary))
    return groups


def _stacked(members: list[Any]) -> np.ndarray:
    """All seeds of a group side by side, cut to the shortest history."""
    n = min(h.shape[0] for h, _ in members)
    return np.concatenate([h[:n] for h, _ in members], axis=1)


def table(runs: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (dims, method): seeds, median final losses, alignment errors and angles per
    hidden layer and, for one cell per layer, the median final W and B (Fig. 6's numbers)."""
    rows = []
    for (dims, method), members in sorted(_load_groups(runs).items()):
        h = _stacked(members)
        n_hidden = len(members[0][1]["angle_final"])
        last = h[-1]
        row: dict[str, Any] = {
            "dims": dims,
            "method": method,
            "seeds": last.shape[0],
            "epochs": int(h[-1, 0, 0]),
            "val_loss_median": float(np.median(last[:, 1])),
            "val_loss_free_median": float(np.median(last[:, 2])),
        }
        for layer in range(n_hidden):
            row[f"alignment_error_{layer + 1}"] = float(np.median(last[:, 3 + layer]))
            row[f"angle_{layer + 1}"] = float(np.median(last[:, 3 + n_hidden + layer]))
        if dims == "1,1,1":
            w10, w21, b12 = (last[:, 3 + 2 * n_hidden + k] for k in range(3))
            row.update(
                W10=float(np.median(w10)),
                W21=float(np.median(w21)),
                B12=float(np.median(b12)),
                B12_over_W21=float(np.median(b12 / w21)),
            )
        rows.append(row)
    return rows


def _figures(runs: list[tuple[Path, dict[str, Any]]], out: Path, **options: Any) -> list[Path]:
    """Fig. 6 from finished runs: ``microcircuit-loss.png`` (validation loss, median and IQR
    over seeds, per method and architecture), ``microcircuit-weights.png`` (final W_10, W_21,
    B_12 against the teacher's 2.0 and one seed's trajectories, [1, 1, 1]),
    ``microcircuit-angles.png`` (per-layer angle(B^T, W) per method) and ``microcircuit.csv``
    (:func:`table`).  The drift-field options of ``salpynn plot`` are unused."""
    import csv
    import io

    from salpynn.analysis.plots import pyplot, save_png

    plt = pyplot()
    groups = _load_groups(runs)
    archs = sorted({d for d, _ in groups}, key=lambda d: (len(d), d))
    paths = []

    fig, axes = plt.subplots(
        1, len(archs), figsize=(4 * len(archs), 3.3), squeeze=False, constrained_layout=True
    )
    for ax, dims in zip(axes[0], archs, strict=True):
        for method in LABELS:
            if (dims, method) not in groups:
                continue
            h = _stacked(groups[(dims, method)])
            q = np.percentile(h[:, :, 1], [25, 50, 75], axis=1)
            epochs = h[:, 0, 0]
            ax.plot(epochs, q[1], color=_COLOURS[method], label=f"{method} ({h.shape[1]} seeds)")
            ax.fill_between(epochs, q[0], q[2], color=_COLOURS[method], alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation loss (nudged output)")
        ax.set_title(f"dims [{dims}]", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("microcircuits: validation loss (median, IQR over seeds)", fontsize=10)
    paths.append(save_png(fig, out / "microcircuit-loss.png"))

    if any(d == "1,1,1" for d, _ in groups):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
        names = ("W10", "W21", "B12")
        labels = [m for m in LABELS if ("1,1,1", m) in groups]
        for k, method in enumerate(labels):
            last = _stacked(groups[("1,1,1", method)])[-1]
            for i in range(3):
                values = last[:, 3 + 2 + i]
                x = i + (k - (len(labels) - 1) / 2) * 0.8 / len(labels)
                axes[0].scatter(
                    np.full(values.size, x),
                    values,
                    s=8,
                    color=_COLOURS[method],
                    label=method if i == 0 else None,
                )
                axes[0].plot([x - 0.1, x + 0.1], [np.median(values)] * 2, color="k", lw=1)
        axes[0].axhline(2.0, color="0.5", ls="--", lw=0.8)
        axes[0].set_xticks(range(3), names)
        axes[0].set_ylabel("final weight (teacher: 2.0)")
        axes[0].legend(fontsize=7, frameon=False)
        if ("1,1,1", "sal") in groups:
            h = groups[("1,1,1", "sal")][0][0]
            for i, name in enumerate(names):
                axes[1].plot(h[:, 0, 0], h[:, 0, 3 + 2 + i], label=name)
            axes[1].axhline(2.0, color="0.5", ls="--", lw=0.8)
            axes[1].set_xlabel("epoch")
            axes[1].set_ylabel("weight (SAL, first seed)")
            axes[1].legend(fontsize=7, frameon=False)
        fig.suptitle("microcircuits [1, 1, 1]: weights", fontsize=10)
        paths.append(save_png(fig, out / "microcircuit-weights.png"))

    fig, axes = plt.subplots(
        1, len(archs), figsize=(4 * len(archs), 3.3), squeeze=False, constrained_layout=True
    )
    for ax, dims in zip(axes[0], archs, strict=True):
        scalar = dims.count(",") == 2 and all(n == "1" for n in dims.split(","))
        for method in LABELS:
            if (dims, method) not in groups:
                continue
            h = _stacked(groups[(dims, method)])
            n_hidden = len(groups[(dims, method)][0][1]["angle_final"])
            # One cell per layer: an angle is 0 or 180 only, the relative error says more.
            offset = 3 if scalar else 3 + n_hidden
            for layer in range(n_hidden):
                ax.plot(
                    h[:, 0, 0],
                    np.median(h[:, :, offset + layer], axis=1),
                    color=_COLOURS[method],
                    ls=("-", "--", ":")[layer % 3],
                    label=f"{method} B{layer + 1}",
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel("||B - W^T|| / ||W|| (median)" if scalar else "angle(B^T, W) (deg, median)")
        if scalar:
            ax.set_yscale("log")
        ax.set_title(f"dims [{dims}]", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    paths.append(save_png(fig, out / "microcircuit-angles.png"))

    rows = table(runs)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    path = out / "microcircuit.csv"
    atomic_write(path, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
    paths.append(path)
    return paths


def _announce(config: MicrocircuitConfig, out: Path) -> str:
    per_epoch = (config.train_patterns + len(VALIDATION_VALUES)) * config.pattern_tau
    return (
        f"microcircuit: {config.method}, dims {config.dims}, {config.seeds} seed(s), "
        f"{config.epochs} epochs x {per_epoch:g} tau_ref -> {out}"
    )


def _report(summary: dict[str, Any]) -> list[str]:
    angles = angle_changes(summary)
    return [
        f"validation loss {summary['val_loss_initial']:.3g} -> {summary['val_loss_final']:.3g} "
        f"(free prediction {summary['val_loss_free_initial']:.3g} -> "
        f"{summary['val_loss_free_final']:.3g})",
        f"angle(B^T, W) per hidden layer (deg): {angles}",
        f"{summary['wall_s']:.1f} s, {summary['seconds_per_epoch']} s per epoch",
    ]


def _memory(config: MicrocircuitConfig) -> int:
    steps = config.avg_window_tau * config.tau_ref / config.resolution
    cells = config.seeds * sum(config.sizes()) * 2
    return int(cells * (16 * steps + 4000) + 50e6)


EXPERIMENT = Experiment(
    name="microcircuit",
    description="SAL aligns the top-down weights of spiking dendritic microcircuits (Fig. 6)",
    config=MicrocircuitConfig,
    run=run,
    outputs=("summary.json", "metrics.csv", "history.npz", "microcircuit.png"),
    figures=_figures,
    announce=_announce,
    report=_report,
    memory=_memory,
)
