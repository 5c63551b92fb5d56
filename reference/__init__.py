"""reference: a compact numpy autograd engine with torch's API and torch's semantics.

``import reference as torch`` runs torch-style autograd code. The design, in four files:

- ``tensor.py``: a numpy array plus the autograd state (``requires_grad``, ``grad_fn``,
  ``.grad``, a version counter shared with views, hooks);
- ``function.py``: the graph node base class and saved-tensor bookkeeping;
- ``ops/``: one class per op, ``forward`` and ``backward`` side by side;
- ``engine.py``: the backward walk, and the one place that un-broadcasts, casts and
  accumulates gradients (``hooks.py``: what each kind of hook is shown and may hand back).

It is the executable meaning of the conformance specs, so it aims to be exact and readable
first and fast second.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from . import autograd
from .dtypes import bool_ as bool  # noqa: A001 - torch.bool
from .dtypes import dtype, float32, float64, int32, int64
from .functional import (
    exp,
    is_tensor,
    log,
    manual_seed,
    matmul,
    mean,
    ones,
    ones_like,
    pow,  # noqa: A004
    rand,
    randn,
    relu,
    sigmoid,
    sum,  # noqa: A004
    tanh,
    tensor,
    zeros,
    zeros_like,
)
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .tensor import Size, Tensor

float = float32  # noqa: A001 - torch.float
double = float64
long = int64
int = int32  # noqa: A001 - torch.int

__all__ = [
    "Size",
    "Tensor",
    "autograd",
    "bool",
    "double",
    "dtype",
    "enable_grad",
    "exp",
    "float",
    "float32",
    "float64",
    "inference_mode",
    "int",
    "int32",
    "int64",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_tensor",
    "log",
    "long",
    "manual_seed",
    "matmul",
    "mean",
    "no_grad",
    "ones",
    "ones_like",
    "pow",
    "rand",
    "randn",
    "relu",
    "set_grad_enabled",
    "sigmoid",
    "sum",
    "tanh",
    "tensor",
    "zeros",
    "zeros_like",
]


try:  # reports name the engine's version; reference is versioned with the project
    __version__ = _version("autograd-conformance")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
