"""Options the CLI and the pytest plugin share, defined once so their help cannot drift apart.

Both argparse's `add_argument` and pytest's `addoption` take the same arguments, so one
function adds the options to either: `--backend` on the CLI, `--conformance-backend` in pytest.
Kept free of heavy imports: pytest loads the plugin, and so this module, on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.errors import UsageError
from conformance.isolation.policy import MODES, Isolation

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


def add_isolation_options(
    add: Callable[..., Any], prefix: str = "--", scenarios: bool = True
) -> None:
    """Add `{prefix}isolation`, `{prefix}timeout`, `{prefix}memory-limit`, `{prefix}threads`
    and, for commands that run scenarios, `{prefix}bench-timeout` through `add`."""
    defaults = Isolation()
    add(
        f"{prefix}isolation",
        choices=MODES,
        default=defaults.mode,
        help="process: each backend in a worker process of its own, so a crash, exit or hang "
        "is that scenario's result and the run goes on; none: all in this process, for "
        f"debugging (default {defaults.mode})",
    )
    add(
        f"{prefix}timeout",
        type=float,
        default=defaults.timeout_s,
        metavar="SECONDS",
        help="one run on a backend (a scenario's check or a timed re-run of it, a fuzzed "
        "program, a gradcheck case) that takes longer is a timeout, and its worker is "
        f"restarted (default {defaults.timeout_s:g}; needs process isolation)",
    )
    if scenarios:
        add(
            f"{prefix}bench-timeout",
            type=float,
            default=defaults.bench_timeout_s,
            metavar="SECONDS",
            help=f"the same for scenarios tagged bench (default {defaults.bench_timeout_s:g})",
        )
    add(
        f"{prefix}memory-limit",
        type=int,
        default=defaults.memory_limit_mb,
        metavar="MB",
        help="cap each worker's memory; a larger allocation is an error in that scenario "
        f"(default {defaults.memory_limit_mb}; 0: no cap)",
    )
    add(
        f"{prefix}threads",
        type=int,
        default=defaults.threads,
        metavar="N",
        help="threads each backend's math libraries may use, recorded in the reports "
        f"(default {defaults.threads}, for timings that do not depend on the machine; "
        "0: each library's own default)",
    )


def isolation_from(get: Callable[[str], Any], prefix: str = "--") -> Isolation:
    """The `Isolation` the options added by `add_isolation_options` ask for; `get` reads an
    option by its name without the prefix (`bench_timeout`), None for one not added. A bad
    value is a `UsageError`."""
    seconds = {"timeout": get("timeout"), "bench_timeout": get("bench_timeout")}
    if seconds["bench_timeout"] is None:
        seconds["bench_timeout"] = Isolation().bench_timeout_s
    for option, value in seconds.items():
        if not value > 0 or value == float("inf"):
            raise UsageError(
                f"{_flag(prefix, option)} takes seconds, more than zero (found {value:g})"
            )
    memory, threads = get("memory_limit"), get("threads")
    if memory < 0:
        flag = _flag(prefix, "memory_limit")
        raise UsageError(f"{flag} takes megabytes, zero or more (found {memory})")
    if threads < 0:
        raise UsageError(
            f"{_flag(prefix, 'threads')} takes a count, zero or more (found {threads})"
        )
    return Isolation(
        mode=get("isolation"),
        timeout_s=seconds["timeout"],
        bench_timeout_s=seconds["bench_timeout"],
        memory_limit_mb=memory or None,
        threads=threads or None,
    )


def _flag(prefix: str, option: str) -> str:
    return prefix + option.replace("_", "-")
