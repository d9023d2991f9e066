"""``python -m liveeval.cli``: the same as the ``liveeval`` command."""

from __future__ import annotations

from .app import main

main()
