"""Training a multilayer perceptron with a spiking SAL phase (paper Fig. 8), on digits.

A :class:`~salpynn.mlp.MLP` (ReLU hidden layers, softmax output; no batch norm, no conv layers:
the paper's FC part on scikit-learn's 8 x 8 digits) is trained by SGD with momentum; the
backward pass uses ``W`` (``bp``), a fixed random ``B`` (``fa``), Kolen-Pollack (``kp``),
sign-concordant feedback (``scfa``) or ``B`` trained by SAL (``sal``).  With ``sal``, before
every epoch ``W``, ``B`` and the biases are loaded into a spiking
:class:`~salpynn.networks.salnet.SALNet` (built once; NEST), which runs its SAL phase (the
paper's: 5 iterations x 200 tau_ref; ``sal_copies`` copies averaged) and ``B`` is read back.

Per epoch: train/test loss and accuracy; per layer: angle, Var of the difference, correlation and
sign concordance between ``W`` and the matrix the backward pass uses (``W`` itself for ``bp``,
``|B| sign(W)`` for ``scfa``, ``B`` otherwise; :meth:`salpynn.mlp.MLP.feedback_matrix`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.analysis.alignment import METRIC_NAMES
from salpynn.config import ConfigError, check_choices, check_range, param, parse_sizes
from salpynn.experiments import Experiment, angle_changes, convention_param, sal_pairing_param
from salpynn.results import atomic_write, atomic_write_json, atomic_write_npz, run_record

__all__ = ["EXPERIMENT", "DeepNetConfig", "run"]


@dataclass(frozen=True)
class DeepNetConfig:
    """The network, its training and the SAL phase."""

    method: Literal["bp", "fa", "kp", "scfa", "sal"] = param("sal", "", "feedback method")
    layers: str = param("64,384,192,10", "", "layer sizes, comma-separated (input 64)")
    epochs: int = param(30, "", "training epochs")
    lr: float = param(0.01, "", "SGD learning rate")
    momentum: float = param(0.9, "", "SGD momentum")
    batch: int = param(32, "", "mini-batch size")
    kp_decay: float = param(1e-3, "", "Kolen-Pollack weight decay")
    sal_copies: int = param(4, "", "SALNet copies averaged (paper: 32)")
    sal_iterations: int = param(5, "", "iterations of a SAL phase")
    sal_iteration_tau: float = param(200.0, "tau_ref", "length of an iteration")
    sal_lr: float = param(0.04, "", "SAL learning rate")
    sal_lr_norm: float = param(20.0, "", "divisor of the averaged SAL update")
    sal_update: Literal["offline", "online"] = param("offline", "", "see salpynn run salnet")
    sal_pairing: Literal["all", "nearest"] = sal_pairing_param()
    tau_ref: float = param(1.0, "ms", "refractory time of the SALNet neurons (10 steps)")
    sal_convention: Literal["authors", "reversible", "marginals"] = convention_param("authors")
    resolution: float = param(0.1, "ms", "time step")
    seed: int = param(1, "", "seed of the weights, the data split, the batches, NEST")

    def sizes(self) -> tuple[int, ...]:
        return parse_sizes("layers", self.layers)

    def validate(self) -> None:
        sizes = self.sizes()
        if len(sizes) < 2 or sizes[0] != 64 or sizes[-1] != 10 or min(sizes) < 1:
            raise ConfigError(
                f"layers must start with 64 (8 x 8 pixels) and end with 10 (classes), got "
                f"{self.layers!r}"
            )
        check_range("epochs", self.epochs, 1, 10_000)
        check_range("lr", self.lr, 0.0, 10.0, low_open=True)
        check_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        check_range("batch", self.batch, 1, 1437)
        check_range("kp_decay", self.kp_decay, 0.0, 1.0)
        check_range("sal_copies", self.sal_copies, 1, 256)
        check_range("sal_iterations", self.sal_iterations, 1, 1000)
        check_range("sal_iteration_tau", self.sal_iteration_tau, 1.0, 1e5)
        check_range("sal_lr", self.sal_lr, 0.0, 10.0)
        check_range("sal_lr_norm", self.sal_lr_norm, 0.0, 1e9, low_open=True)
        check_range("seed", self.seed, 0, 2**31 - 1)
        check_choices(self)


def run(config: DeepNetConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Train; write ``history.csv``, ``summary.json`` and ``deepnet.png``."""
    from tqdm import tqdm

    from salpynn.analysis.alignment import alignment_metrics
    from salpynn.mlp import MLP, digits

    config.validate()
    x_train, y_train, x_test, y_test = digits(config.seed)
    net = MLP(config.sizes(), method=config.method, seed=config.seed, kp_decay=config.kp_decay)
    spiking = _SALPhase(config, net) if config.method == "sal" else None
    rng = np.random.default_rng(config.seed)
    n_layers = len(net.W)

    def record(epoch: int) -> list[float]:
        row = [
            epoch,
            net.loss(x_train, y_train),
            net.accuracy(x_train, y_train),
            net.loss(x_test, y_test),
            net.accuracy(x_test, y_test),
        ]
        for i, w in enumerate(net.W):  # against the matrix the backward pass uses
            row.extend(alignment_metrics(w, net.feedback_matrix(i)).values())
        return row

    initial = ([w.copy() for w in net.W], [b.copy() for b in net.B])
    history = [record(0)]
    sal_s = 0.0
    start = time.perf_counter()
    bar = tqdm(
        total=config.epochs, desc=f"deepnet {config.method}", unit="epoch", disable=not progress
    )
    with bar:
        for epoch in range(1, config.epochs + 1):
            if spiking is not None:
                t = time.perf_counter()
                spiking.phase(net)
                sal_s += time.perf_counter() - t
            order = rng.permutation(len(y_train))
            for k in range(0, len(order), config.batch):
                idx = order[k : k + config.batch]
                net.step(x_train[idx], y_train[idx], config.lr, config.momentum)
            history.append(record(epoch))
            bar.update()
            bar.set_postfix_str(
                f"test acc {history[-1][4]:.3f}, angles "
                + ", ".join(f"{history[-1][5 + 4 * i]:.0f}" for i in range(n_layers))
            )
    wall = time.perf_counter() - start
    if spiking is not None:
        spiking.end()
    table = np.array(history)
    out.mkdir(parents=True, exist_ok=True)
    header = "epoch,train_loss,train_accuracy,test_loss,test_accuracy," + ",".join(
        f"{name}_{i}" for i in range(n_layers) for name in METRIC_NAMES
    )
    atomic_write(
        out / "history.csv",
        lambda tmp: np.savetxt(tmp, table, delimiter=",", header=header, comments=""),
    )
    summary = {
        "experiment": "deepnet",
        "method": config.method,
        "layers": list(config.sizes()),
        "test_accuracy_final": float(table[-1, 4]),
        "train_accuracy_final": float(table[-1, 2]),
        "angle_initial": [float(table[0, 5 + 4 * i]) for i in range(n_layers)],
        "angle_final": [float(table[-1, 5 + 4 * i]) for i in range(n_layers)],
        "wall_s": round(wall, 2),
        "sal_phase_s": round(sal_s, 2),
        "sal_share": round(sal_s / wall, 3) if wall > 0 else None,
        **run_record(config),
    }
    weights = {f"W_initial_{i}": w for i, w in enumerate(initial[0])}
    weights |= {f"B_initial_{i}": b for i, b in enumerate(initial[1])}
    weights |= {f"W_final_{i}": w for i, w in enumerate(net.W)}
    weights |= {f"B_final_{i}": b for i, b in enumerate(net.B)}
    atomic_write_npz(out / "weights.npz", **weights)
    plot_deepnet(table, n_layers, config.method, out / "deepnet.png")
    atomic_write_json(out / "summary.json", summary)
    return summary


class _SALPhase:
    """The spiking copy (built once) that trains ``B`` before every epoch."""

    def __init__(self, config: DeepNetConfig, net: Any) -> None:
        from salpynn.networks.salnet import SALNet, SALNetParameters, sal_phase_rule
        from salpynn.pynn import load_backend

        self.config = config
        self.backend = load_backend("nest")
        self.backend.setup(timestep=config.resolution, seed=config.seed + 1)
        params = SALNetParameters(
            config.sizes(),
            tau_ref=config.tau_ref,
            convention=config.sal_convention,
            delay=config.resolution,
            rule=sal_phase_rule(
                config.tau_ref,
                config.sal_update,
                config.sal_lr,
                config.sal_lr_norm,
                pairing=config.sal_pairing,
            ),
            copies=config.sal_copies,
        )
        self.net = SALNet(self.backend, params, net.W, net.B, self._biases(net)).build()
        steps = round(config.sal_iteration_tau * config.tau_ref / config.resolution)
        self.iteration_ms = steps * config.resolution

    @staticmethod
    def _biases(net: Any) -> list[np.ndarray]:
        return [np.zeros(net.sizes[0]), *net.b]

    def phase(self, net: Any) -> None:
        c = self.config
        self.net.set_forward(net.W)
        self.net.set_biases(self._biases(net))
        net.B, _ = self.net.sal_phase(
            net.B, c.sal_iterations, self.iteration_ms, c.sal_lr, c.sal_lr_norm, c.sal_update
        )

    def end(self) -> None:
        self.backend.sim.end()


def plot_deepnet(table: np.ndarray, n_layers: int, method: str, path: Path) -> Path:
    """Test accuracy and per-layer angle against epochs."""
    from salpynn.analysis.plots import pyplot, save_png

    fig, (acc, ang) = pyplot().subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    acc.plot(table[:, 0], table[:, 4], label="test")
    acc.plot(table[:, 0], table[:, 2], label="train", ls="--")
    acc.set_xlabel("epoch")
    acc.set_ylabel("accuracy")
    acc.legend(fontsize=7, frameon=False)
    for i in range(n_layers):
        ang.plot(table[:, 0], table[:, 5 + 4 * i], label=f"layer {i}")
    ang.set_xlabel("epoch")
    ang.set_ylabel("angle(W, B) (deg)")
    ang.legend(fontsize=7, frameon=False)
    fig.suptitle(f"deepnet on digits: {method}", fontsize=10)
    return save_png(fig, path)


#: Methods in the order the figures and the depth table list them.
METHODS = ("bp", "fa", "kp", "scfa", "sal")
_COLOURS = {"bp": "k", "fa": "tab:red", "kp": "tab:green", "scfa": "tab:purple", "sal": "tab:blue"}


def _load_runs(runs: list[tuple[Path, dict[str, Any]]]) -> dict[tuple[str, int], list[Any]]:
    """Finished runs grouped by ``(method, hidden layers)``: ``(folder, summary, history)``."""
    groups: dict[tuple[str, int], list[Any]] = {}
    for folder, summary in runs:
        table = np.atleast_2d(np.loadtxt(folder / "history.csv", delimiter=",", skiprows=1))
        key = (summary["method"], len(summary["layers"]) - 2)
        groups.setdefault(key, []).append((folder, summary, table))
    return groups


def depth_table(
    runs: list[tuple[Path, dict[str, Any]]], groups: dict[tuple[str, int], list[Any]] | None = None
) -> list[dict[str, Any]]:
    """One row per method and depth: seeds, test accuracy (median, quartiles, min, max),
    per-layer final angles (median over seeds) and the largest of them among the layers whose
    ``B`` the backward pass uses (``B[0]`` would only carry the gradient to the pixels)."""
    rows = []
    groups = _load_runs(runs) if groups is None else groups
    for (method, depth), members in sorted(
        groups.items(), key=lambda kv: (kv[0][1], METHODS.index(kv[0][0]))
    ):
        acc = np.array([m[1]["test_accuracy_final"] for m in members])
        angles = np.median(np.array([m[1]["angle_final"] for m in members]), axis=0)
        rows.append(
            {
                "method": method,
                "hidden_layers": depth,
                "layers": ",".join(map(str, members[0][1]["layers"])),
                "seeds": len(members),
                "test_accuracy_median": round(float(np.median(acc)), 4),
                "test_accuracy_q25": round(float(np.quantile(acc, 0.25)), 4),
                "test_accuracy_q75": round(float(np.quantile(acc, 0.75)), 4),
                "test_accuracy_min": round(float(acc.min()), 4),
                "test_accuracy_max": round(float(acc.max()), 4),
                "angle_final_median": ";".join(f"{a:.1f}" for a in angles),
                "angle_final_max_used": round(float(angles[1:].max()), 1)
                if len(angles) > 1
                else None,
            }
        )
    return rows


def _figures(runs: list[tuple[Path, dict[str, Any]]], out: Path, **options: Any) -> list[Path]:
    """Fig. 8 and the depth comparison from finished runs: ``deepnet-accuracy.png`` (test
    accuracy against epochs per method, one panel per depth), ``deepnet-angles.png`` (per-layer
    angles per method and depth), ``deepnet-depth.png`` and ``deepnet-depth.csv`` (final
    accuracy and angles against depth) and ``deepnet-scatter.png`` (W against B at the start and
    end of the deepest SAL and FA runs).  The drift-field options of ``salpynn plot`` are unused."""
    import csv
    import io

    from salpynn.analysis.plots import plot_layer_scatters, pyplot, save_png

    plt = pyplot()
    groups = _load_runs(runs)
    depths = sorted({d for _, d in groups})
    methods = [m for m in METHODS if any(k[0] == m for k in groups)]
    paths = []

    fig, axes = plt.subplots(
        1, len(depths), figsize=(3.4 * len(depths), 3.2), squeeze=False, constrained_layout=True
    )
    for ax, depth in zip(axes[0], depths, strict=True):
        for method in methods:
            members = groups.get((method, depth))
            if not members:
                continue
            n = min(len(m[2]) for m in members)
            curves = np.array([m[2][:n, 4] for m in members])
            epochs = members[0][2][:n, 0]
            ax.plot(epochs, np.median(curves, axis=0), color=_COLOURS[method], label=method)
            ax.fill_between(
                epochs, curves.min(axis=0), curves.max(axis=0), color=_COLOURS[method], alpha=0.15
            )
        ax.set_title(f"{depth} hidden layer{'s' if depth > 1 else ''}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0.0, 1.0)
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.suptitle("digits: test accuracy (median and range over seeds)", fontsize=10)
    paths.append(save_png(fig, out / "deepnet-accuracy.png"))

    aligned = [m for m in methods if m != "bp"]  # BP sends errors back through W
    if aligned:
        fig, axes = plt.subplots(
            len(aligned),
            len(depths),
            figsize=(3.4 * len(depths), 2.6 * len(aligned)),
            squeeze=False,
            constrained_layout=True,
        )
        for r, method in enumerate(aligned):
            for c, depth in enumerate(depths):
                ax = axes[r, c]
                members = groups.get((method, depth), [])
                if members:
                    n = min(len(m[2]) for m in members)
                    n_layers = len(members[0][1]["layers"]) - 1
                    colours = plt.cm.viridis(np.linspace(0, 0.9, n_layers))
                    for i in range(n_layers):
                        curves = np.array([m[2][:n, 5 + 4 * i] for m in members])
                        ax.plot(
                            members[0][2][:n, 0],
                            np.median(curves, axis=0),
                            color=colours[i],
                            label=f"layer {i}",
                        )
                    ax.legend(fontsize=6, frameon=False)
                ax.axhline(30.0, color="0.6", lw=0.7, ls=":")
                ax.set_ylim(0.0, 95.0)
                ax.set_title(f"{method}, {depth} hidden", fontsize=9)
                ax.set_xlabel("epoch")
                ax.set_ylabel("angle(W, B) (deg)")
        fig.suptitle("per-layer angle between W and B (median over seeds)", fontsize=10)
        paths.append(save_png(fig, out / "deepnet-angles.png"))

    table = depth_table(runs, groups)
    fig, (acc, ang) = plt.subplots(1, 2, figsize=(8.5, 3.4), constrained_layout=True)
    for method in methods:
        rows = [r for r in table if r["method"] == method]
        x = [r["hidden_layers"] for r in rows]
        med = np.array([r["test_accuracy_median"] for r in rows])
        err = np.array(
            [
                med - [r["test_accuracy_q25"] for r in rows],
                [r["test_accuracy_q75"] for r in rows] - med,
            ]
        )
        acc.errorbar(x, med, yerr=err, color=_COLOURS[method], marker="o", label=method, capsize=3)
        if method != "bp":
            ang.plot(x, [r["angle_final_max_used"] for r in rows], "o-", color=_COLOURS[method])
    acc.set_xlabel("hidden layers")
    acc.set_ylabel("final test accuracy (median, IQR)")
    acc.legend(fontsize=7, frameon=False)
    ang.axhline(30.0, color="0.6", lw=0.7, ls=":")
    ang.set_xlabel("hidden layers")
    ang.set_ylabel("largest final angle, layers >= 1 (deg)")
    for ax in (acc, ang):
        ax.set_xticks(depths)
    fig.suptitle("depth: feedback alignment against SAL", fontsize=10)
    paths.append(save_png(fig, out / "deepnet-depth.png"))

    buffer = io.StringIO()
    if table:
        writer = csv.DictWriter(buffer, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    paths.append(
        atomic_write(out / "deepnet-depth.csv", lambda tmp: tmp.write_text(buffer.getvalue()))
    )

    deepest = depths[-1]
    for method in ("sal", "fa"):
        members = sorted(groups.get((method, deepest), []), key=lambda m: m[1]["seed"])
        if not members or not (members[0][0] / "weights.npz").exists():
            continue
        with np.load(members[0][0] / "weights.npz") as data:
            n_layers = len(members[0][1]["layers"]) - 1
            rows_ = [
                (
                    [data[f"W_{when}_{i}"] for i in range(n_layers)],
                    [data[f"B_{when}_{i}"] for i in range(n_layers)],
                    when,
                )
                for when in ("initial", "final")
            ]
        paths.append(
            plot_layer_scatters(
                rows_,
                out / f"deepnet-scatter-{method}.png",
                title=f"{method}, {deepest} hidden layers, seed {members[0][1]['seed']}",
            )
        )
    return paths


def _report(summary: dict[str, Any]) -> list[str]:
    angles = angle_changes(summary, digits=0)
    return [
        f"{summary['method']}: test accuracy {summary['test_accuracy_final']:.3f}; "
        f"angle(W, B) per layer (deg) {angles}; SAL phases {summary['sal_share']} of the time"
    ]


EXPERIMENT = Experiment(
    name="deepnet",
    description="MLP on digits with BP, FA, KP, sign-concordant or SAL-trained feedback (Fig. 8)",
    config=DeepNetConfig,
    run=run,
    outputs=("summary.json", "history.csv", "weights.npz", "deepnet.png"),
    figures=_figures,
    report=_report,
)
