"""`programs()`: a hypothesis strategy for random autograd programs in the spec language.

A program starts from a leaf that requires grad and then draws actions from the catalogue
(`conformance.fuzz.actions`): more leaves, ops over the whole op set (`conformance.fuzz.ops`),
grad-mode blocks, backward calls (scalar, with a gradient, repeated, with and without
`retain_graph`), `.grad` resets, `retain_grad`, `detach`, tensor hooks and the gradients they
keep, deliberate misuses, and checks of what can be observed. `State` (and, for held
gradients, `Held`) steers it towards programs that mostly run; hypothesis shrinks a failing one
towards few, simple steps.
"""

from __future__ import annotations

from hypothesis import strategies as st

from conformance.fuzz.actions import draw_action
from conformance.fuzz.actions.backward import backward_newest
from conformance.fuzz.actions.hooks import kept_gradient
from conformance.fuzz.actions.values import leaf
from conformance.fuzz.builder import Builder, Config, Draw
from conformance.fuzz.program import Program

__all__ = ["Config", "programs", "sample"]

# How a program ends, by weight: as drawn, with a backward from its newest value and the
# checks of everything it left (then now and then a kept gradient), or with the checks alone.
# Shrinking goes towards the first.
ENDINGS = (("none", 1), ("backward", 2), ("sweep", 1))

_Builder = Builder  # the name tests patch


def programs(config: Config | None = None) -> st.SearchStrategy[Program]:
    """Random programs; each renders to a spec (see `conformance.fuzz.program`)."""
    return _programs(config or Config())


def sample(count: int, config: Config | None = None, at: int = 0) -> list[Program]:
    """`count` programs, the same ones for the same `at` (a seed): for tests and benchmarks
    that need programs, not a search."""
    from hypothesis import HealthCheck, given, seed, settings

    found: list[Program] = []

    @seed(at)
    @settings(
        max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(programs(config))
    def collect(program: Program) -> None:
        found.append(program)

    collect()
    return found


@st.composite
def _programs(draw: Draw, config: Config) -> Program:
    builder = Builder(draw, config)
    builder.steps.append(leaf(builder, first=True))
    for _ in range(builder.between(0, config.max_actions)):
        step = draw_action(builder)
        if step is not None:
            builder.steps.append(step)
    ending = builder.weighted(ENDINGS)
    if ending == "backward":
        backward_newest(builder)
        if builder.held.filled and builder.flip():  # a kept gradient, with every .grad set
            step = kept_gradient(builder)
            if step is not None:
                builder.steps.append(step)
    if ending != "none":
        builder.sweep()
    return Program(tuple(builder.steps))
