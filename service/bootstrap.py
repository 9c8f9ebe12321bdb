"""Composition root: the one place that builds concrete adapters from Settings (style.md §3)."""

from __future__ import annotations


def run_service() -> int:
    """Run io-bridge until SIGTERM/SIGINT; returns the process exit status."""
    raise SystemExit("io-bridge run: the pipeline is not built yet (issue: the pipeline)")
