"""Simulator-agnostic PyNN network definitions built from salpynn's cell and synapse types.

Each network is a class with ``create()``, ``connect()``, ``run()`` and read-out methods; it
takes a :class:`salpynn.pynn.Backend`, so the same definition runs on NEST and Brian2.
"""
