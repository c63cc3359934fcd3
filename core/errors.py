"""Errors every layer may raise.

`MissingDependency`: an optional backend was asked for but its package is not installed (vLLM,
LeanDojo, ...).  It is an ImportError, so `except ImportError` still catches it; the CLI prints
its message (which says what to install and what hardware it needs) instead of a traceback.
"""

from __future__ import annotations


class MissingDependency(ImportError):
    """An optional package (an extra of pyproject.toml) that this feature needs is not installed."""
