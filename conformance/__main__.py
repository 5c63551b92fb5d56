"""The `conformance` command and `python -m conformance`.

Signals are taken over before the harness is imported: a Ctrl-C while numpy or torch loads
is one line and exit 130, like one during a run, not a traceback.
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    from conformance.run.interrupt import SIGNALS, Interrupted

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    for signum in SIGNALS:
        signal.signal(signum, stop)
    try:
        from conformance.cli.main import main as run

        return run()
    except (Interrupted, KeyboardInterrupt) as exc:
        stopped = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
        print(f"conformance: interrupted by {stopped.name}", file=sys.stderr)
        return stopped.exit_code


if __name__ == "__main__":
    sys.exit(main())
