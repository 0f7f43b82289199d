"""The package's structure: one registry, one command tree, imports only downward, no cycles."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from salpynn import experiments
from salpynn.config import ConfigError, apply_overrides, describe, load_config, parameters
from salpynn.rule import PairRule, RuleConfig

ROOT = Path(__file__).resolve().parent.parent

#: Layers from the bottom; a module may import its own layer and the ones below.
LAYERS = [
    {
        "salpynn",
        "salpynn.rule",
        "salpynn.theory",
        "salpynn.mlp",
        "salpynn.stdwi",
        "salpynn.config",
        "salpynn.results",
        "salpynn.safety",
        "salpynn.mpi",
        "salpynn.build",
    },
    {"salpynn.nest", "salpynn.analysis"},
    {"salpynn.pynn"},
    {"salpynn.networks"},
    {"salpynn.experiments"},
    {"salpynn.sweep"},
    {"salpynn.cli", "salpynn.__main__"},
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "salpynn").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__")] = path
    for path in sorted((ROOT / "networks").glob("*.py")):
        name = "salpynn.networks" + ("" if path.stem == "__init__" else f".{path.stem}")
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    """salpynn modules imported anywhere in the file (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("salpynn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("salpynn"):
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _layer(module: str) -> int:
    best = None
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if module == prefix or (prefix != "salpynn" and module.startswith(prefix + ".")):
                best = index
    assert best is not None, f"{module} is in no layer"
    return best


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path):
            # "from salpynn import mpi" names the module salpynn.mpi
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


class TestLayers:
    def test_imports_point_downwards(self):
        upward = [
            f"{a} -> {b}"
            for a, targets in _graph().items()
            for b in targets
            if _layer(b) > _layer(a)
        ]
        assert not upward, upward

    def test_no_cycles(self):
        graph = _graph()
        # Package __init__ files re-export their children; a child importing its package's
        # other children is not a cycle through the package itself.
        edges = {
            a: {b for b in targets if not a.startswith(b + ".")} for a, targets in graph.items()
        }
        state: dict[str, int] = {}
        cycles = []

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            for nxt in edges.get(node, ()):
                if state.get(nxt) == 1:
                    cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
                elif state.get(nxt) is None:
                    visit(nxt, [*path, nxt])
            state[node] = 2

        for node in edges:
            if node not in state:
                visit(node, [node])
        assert not cycles, cycles

    def test_no_argparse_in_library_modules(self):
        for name, path in _modules().items():
            if name.startswith(("salpynn.analysis", "salpynn.experiments", "salpynn.networks")):
                assert "argparse" not in path.read_text(), name


class TestRegistry:
    @pytest.mark.parametrize("name", experiments.names())
    def test_experiment_declares_what_the_commands_need(self, name):
        experiment = experiments.get(name)
        assert experiment.name == name
        assert dataclasses.is_dataclass(experiment.config)
        experiment.config().validate()  # the defaults are valid
        assert callable(experiment.run) and experiment.outputs
        # Every parameter has a description (the help text is generated from them).
        for p in parameters(experiment.config):
            assert p.help, f"{name}: {p.name} has no help text"

    def test_unknown_experiment_lists_the_known_ones(self):
        with pytest.raises(ValueError, match="two-neuron"):
            experiments.get("nope")

    def test_help_lists_every_parameter_of_every_experiment(self):
        for command in (["--help"], ["run", "--help"]):
            proc = subprocess.run(
                [sys.executable, "-m", "salpynn", *command], capture_output=True, text=True
            )
            assert proc.returncode == 0, proc.stderr
            for name in experiments.names():
                assert f"{name}:" in proc.stdout
                for p in parameters(experiments.get(name).config):
                    assert p.name in proc.stdout
        proc = subprocess.run(
            [sys.executable, "-m", "salpynn", "run", "sampling", "--help"],
            capture_output=True,
            text=True,
        )
        assert "rule.window" in proc.stdout and "triangular" in proc.stdout
        assert "tau_ref" in proc.stdout and "5.0 ms" in proc.stdout


@dataclasses.dataclass(frozen=True)
class _Example:
    a: int = 1
    rule: RuleConfig = dataclasses.field(default_factory=RuleConfig)


class TestOverrides:
    def test_dotted_nested_and_flat_forms_agree(self):
        dotted = apply_overrides(_Example(), ["rule.eta=0.5", "rule.window=triangular", "a=3"])
        nested = apply_overrides(_Example(), {"rule": {"eta": 0.5, "window": "triangular"}, "a": 3})
        keys = apply_overrides(_Example(), {"rule.eta": 0.5, "rule.window": "triangular", "a": 3})
        assert dotted == nested == keys
        assert dotted.rule.eta == 0.5 and dotted.rule.pairing == "nearest"  # others kept

    def test_none_and_optional_numbers(self):
        config = apply_overrides(_Example(), ["rule.tau_causal=none", "rule.tau_anticausal=4"])
        assert config.rule.tau_causal is None and config.rule.tau_anticausal == 4.0
        expected = PairRule(tau_causal=7.0, tau_anticausal=4.0, dendritic_delay=0.0)
        assert config.rule.resolve(7.0, 1.0, 0.1, "nest") == expected
        # Unset lags: between spike times where the backend can, else the whole delay.
        assert config.rule.resolve(7.0, 0.1, 0.1, "brian2").dendritic_delay == -1.0
        assert config.rule.resolve(7.0, 0.2, 0.1, "brian2").dendritic_delay == 0.0

    @pytest.mark.parametrize(
        ("overrides", "words"),
        [
            (["rule.bogus=1"], "unknown parameter 'rule.bogus'.*rule.eta"),
            (["rule=1"], "rule is a block"),
            (["rule.eta=x"], "rule.eta: cannot read 'x'"),
            (["a=1.5"], "a: cannot read"),
        ],
    )
    def test_errors_name_the_parameter(self, overrides, words):
        with pytest.raises(ConfigError, match=words):
            apply_overrides(_Example(), overrides)

    def test_conflicting_forms_are_refused(self):
        with pytest.raises(ConfigError, match="both as a value and as a block"):
            apply_overrides(_Example(), {"rule": 1, "rule.eta": 2})

    def test_rule_errors_carry_the_block_name(self):
        with pytest.raises(ConfigError, match=r"rule\.tau_causal must be > 0"):
            RuleConfig(tau_causal=-1.0).resolve(10.0, 1.0, 0.1, "nest")
        with pytest.raises(ConfigError, match=r"rule.eta must be set"):
            RuleConfig(eta=None).resolve(10.0, 1.0, 0.1, "nest")
        with pytest.raises(ConfigError, match=r"rule\.dendritic_delay must be -1"):
            RuleConfig(dendritic_delay=2.0).resolve(10.0, 1.0, 0.1, "nest")

    def test_json_file_and_describe(self, tmp_path):
        path = tmp_path / "c.json"
        path.write_text('{"rule": {"pairing": "all"}, "a": 2}')
        config = load_config(_Example, path, ["rule.eta=0.1"])
        assert (config.a, config.rule.pairing, config.rule.eta) == (2, "all", 0.1)
        text = describe(_Example)
        assert "rule.dendritic_delay" in text and "none ms" in text and "-inf" in text
        assert "[exp|triangular]" in text and "[nearest|all]" in text
