"""Options the CLI and the pytest plugin share, defined once so their help cannot drift apart.

Both argparse's `add_argument` and pytest's `addoption` take the same arguments, so one
function adds the options to either: `--backend` on the CLI, `--conformance-backend` in pytest.
Kept free of heavy imports: pytest loads the plugin, and so this module, on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BACKEND_HELP = (
    "a backend to run on: reference, torch-cpu, torch-cuda, torchlike:MODULE, a plug-in name "
    "or package.module:factory; repeat for several (default: reference and torch-cpu, or "
    "reference alone when torch is not installed)"
)
BASELINE_HELP = (
    "backend whose values unpinned expectations compare with "
    "(default: torch-cpu when available, else reference)"
)


def add_backend_options(add: Callable[..., Any], prefix: str = "--") -> None:
    """Add `{prefix}backend` (repeatable) and `{prefix}baseline` through `add`."""
    add(f"{prefix}backend", action="append", metavar="NAME", help=BACKEND_HELP)
    add(f"{prefix}baseline", metavar="NAME", help=BASELINE_HELP)
