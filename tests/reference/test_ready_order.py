"""The engine runs nodes, and so calls hooks, in torch's order, ties between leaves included.

torch's ready queue orders nodes by sequence number alone, so the order of several leaves
ready at once is whatever its heap's layout gives; ``reference/ready_queue.py`` lays a heap
out the same way. Random graphs with many leaves and roots (some given twice, some below
other roots) and a hook on every tensor check the engine against torch.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from reference.ready_queue import ReadyQueue

torch = pytest.importorskip("torch")

# torch's tie order is its C++ library's: libstdc++ on Linux, which reference follows
linux_torch = pytest.mark.skipif(
    sys.platform != "linux", reason="torch breaks ties in libstdc++'s order on Linux only"
)

Graph = tuple[int, list[tuple[str, int, int]], list[int]]


@st.composite
def graphs(draw: Any) -> Graph:
    leaves = draw(st.integers(1, 8))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["add", "mul", "scale"]), st.integers(0, 63), st.integers(0, 63)
            ),
            max_size=10,
        )
    )
    roots = draw(st.lists(st.integers(0, 63), min_size=1, max_size=8))
    return leaves, ops, roots


def hook_order(lib: Any, graph: Graph) -> tuple[list[int], list[Any]]:
    """The order the tensors' hooks ran in (tensors numbered as made), and the leaves'
    gradients."""
    leaves, ops, roots = graph
    called: list[int] = []
    made = [lib.ones(2, dtype=lib.float64, requires_grad=True) for _ in range(leaves)]
    for op, a, b in ops:
        x, y = made[a % len(made)], made[b % len(made)]
        made.append(x + y if op == "add" else x * y if op == "mul" else x * 2)
    for i, t in enumerate(made):
        t.register_hook(lambda g, i=i: called.append(i))
    chosen = [made[r % len(made)] for r in roots]
    lib.autograd.backward(chosen, [lib.ones(2, dtype=lib.float64) for _ in chosen])
    return called, [None if t.grad is None else t.grad.tolist() for t in made[:leaves]]


@linux_torch
@settings(max_examples=600, deadline=None)
@given(graphs())
def test_hooks_run_in_torchs_order(graph: Graph) -> None:
    assert hook_order(reference, graph) == hook_order(torch, graph)


@linux_torch
@pytest.mark.parametrize("leaves", range(1, 9))
def test_leaves_given_as_roots_run_as_torchs_heap_hands_them_out(leaves: int) -> None:
    """Four leaves or more come out of torch's heap in neither the order they went in nor
    its reverse (four: 0, 2, 1, 3)."""
    assert hook_order(reference, (leaves, [], list(range(leaves)))) == hook_order(
        torch, (leaves, [], list(range(leaves)))
    )


class _Node:
    def __init__(self, seq: float) -> None:
        self._seq = seq


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 20), st.none()), max_size=40))
def test_the_queue_hands_out_the_latest_node_first(pushes: list[int | None]) -> None:
    """Whatever the ties, a pop returns a node with the highest sequence number waiting
    (``None`` in the list: a pop)."""
    queue, waiting = ReadyQueue(), []
    for seq in pushes:
        if seq is None:
            if waiting:
                node = queue.take()
                assert node._seq == max(n._seq for n in waiting)
                waiting.remove(node)
        else:
            node = _Node(seq)
            queue.push(node)
            waiting.append(node)
        assert len(queue) == len(waiting)
