"""salpynn.analysis.plots: every figure is a complete PNG, written atomically."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from matplotlib.figure import Figure

from salpynn.analysis import plots
from salpynn.analysis.plots import (
    plot_alignment_scatter,
    plot_asymmetry,
    plot_distributions,
    plot_stdd,
)
from salpynn.rule import PairRule

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_only_png(folder, name):
    assert [p.name for p in folder.iterdir()] == [name]
    assert (folder / name).read_bytes()[:8] == PNG_MAGIC


class TestDocstringExamples:
    def test_examples_run(self):
        result = doctest.testmod(plots)
        assert result.attempted > 0
        assert result.failed == 0


class TestPlotStdd:
    def test_writes_png(self, tmp_path):
        lags = np.arange(-20.0, 21.0)
        counts = np.exp(-np.abs(lags - 2.0) / 5.0) * 100
        path = plot_stdd(counts, lags, tmp_path / "stdd.png", (0, 1), PairRule.sal(tau=10.0))
        assert path == tmp_path / "stdd.png"
        assert_only_png(tmp_path, "stdd.png")

    def test_failure_leaves_no_file(self, tmp_path, monkeypatch):
        def fail(self, *args, **kwargs):
            raise OSError("no space")

        monkeypatch.setattr(Figure, "savefig", fail)
        with pytest.raises(OSError, match="no space"):
            plot_stdd([1.0, 2.0], [-1.0, 1.0], tmp_path / "stdd.png")
        assert list(tmp_path.iterdir()) == []


class TestPlotAlignmentScatter:
    def test_writes_png(self, tmp_path):
        w = np.random.default_rng(0).normal(size=(5, 4))
        plot_alignment_scatter(w, w + 0.1, tmp_path / "wb.png", title="layer 1")
        assert_only_png(tmp_path, "wb.png")


class TestPlotDistributions:
    @pytest.mark.parametrize("n", [3, 7])
    def test_writes_png(self, tmp_path, n):
        rng = np.random.default_rng(n)
        p, q = rng.dirichlet(np.ones(2**n)), rng.dirichlet(np.ones(2**n))
        plot_distributions(p, q, tmp_path / "dist.png", kl=0.1)
        assert_only_png(tmp_path, "dist.png")


class TestPlotAsymmetry:
    def test_writes_png(self, tmp_path):
        w = np.random.default_rng(1).normal(size=(4, 4))
        plot_asymmetry(-(w - w.T), w, tmp_path / "asym.png")
        assert_only_png(tmp_path, "asym.png")
