"""The ops: one class per op, ``forward`` and ``backward`` side by side.

``forward`` takes numpy arrays (and parameters) and returns an array. ``backward`` takes the
gradient of the result and returns one gradient per tensor input. The same formula serves two
cases: plain arrays, and tensors when ``create_graph=True`` asks for the backward pass to be
recorded too; ``_math`` holds the few helpers whose spelling differs between the two.
"""
