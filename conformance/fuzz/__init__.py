"""Differential fuzzing: random autograd programs in the spec language, run on two backends,
diffed, and shrunk to a spec that reproduces a divergence on its own."""
