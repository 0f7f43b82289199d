"""salpynn: spike-based alignment learning (SAL) for NEST and PyNN.

- :mod:`salpynn.rule`: the signed pair-based window, a NumPy reference and the expected drift.
- :mod:`salpynn.nest`: loads the ``salpynnmodule`` NEST extension (``sal_synapse``).
- :mod:`salpynn.build`: builds that module against the imported NEST, cached by hash.
- :mod:`salpynn.results`: run folders, atomic writes, configuration hashes.
- :mod:`salpynn.experiments`: the runnable experiments behind ``salpynn run``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("salpynn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
