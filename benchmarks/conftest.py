"""Benchmarks run on one thread: BLAS and OpenMP pools are sized when numpy and torch load,
so ``tox -e bench`` sets the variables; they are set here too for a direct ``pytest
benchmarks`` run, which works when nothing imported numpy first."""

from __future__ import annotations

import os
import sys
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `benchmarks.workloads`, whatever the working directory
