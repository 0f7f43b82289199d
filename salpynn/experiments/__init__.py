"""Runnable experiments behind ``salpynn run <name>``."""
