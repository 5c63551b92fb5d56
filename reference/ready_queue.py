"""The order in which torch's engine takes up nodes that are ready together, ties included.

torch keeps ready nodes in a ``std::priority_queue`` ordered by sequence number alone (the
latest node first). Every leaf's node has the same number, so which of several ready leaves
runs first, and so the order of their hooks, falls out of where the heap holds them. This
module moves entries exactly as libstdc++'s ``push_heap`` and ``pop_heap`` do, so it gives
the order of torch's Linux builds (libc++ on macOS breaks ties otherwise).

The engine needs it only for the roots of a backward: torch hands them to its queue all at
once, so three or more leaves can wait together, and their order then depends on the heap's
layout (four come out 0, 2, 1, 3). Later a node hands over at most two children (no op has
more than two inputs), and no leaf is waiting when a node runs, so ties are pairs of leaves,
which any layout hands out first come, first served.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .function import Node


def pop_order(nodes: Iterable[Node]) -> list[Node]:
    """``nodes``, pushed in this order into torch's queue, in the order they come out."""
    queue = ReadyQueue()
    for node in nodes:
        queue.push(node)
    return [queue.take() for _ in range(len(queue))]


class ReadyQueue(list["Node"]):
    """Nodes in a max-heap by ``_seq``, laid out entry for entry as libstdc++ lays it out."""

    __slots__ = ()

    def push(self, node: Node) -> None:
        """``push_heap``: the new entry rises past every parent that runs strictly later."""
        self.append(node)
        _rise(self, len(self) - 1, node)

    def take(self) -> Node:
        """``pop_heap``: the last entry fills the hole left by the top, which first sinks to
        the bottom along the larger children (the right one on a tie), then rises."""
        top = self[0]
        last = self.pop()
        size = len(self)
        if size:
            hole = child = 0
            while child < (size - 1) // 2:
                child = 2 * (child + 1)
                if self[child]._seq < self[child - 1]._seq:
                    child -= 1
                self[hole] = self[child]
                hole = child
            if size % 2 == 0 and child == (size - 2) // 2:
                child = 2 * (child + 1)
                self[hole] = self[child - 1]
                hole = child - 1
            _rise(self, hole, last)
        return top


def _rise(heap: list[Node], hole: int, node: Node) -> None:
    """``__push_heap``: move ``node`` up from ``hole`` while its parent has a lower number."""
    seq = node._seq
    while hole > 0:
        parent = (hole - 1) // 2
        if not heap[parent]._seq < seq:
            break
        heap[hole] = heap[parent]
        hole = parent
    heap[hole] = node
