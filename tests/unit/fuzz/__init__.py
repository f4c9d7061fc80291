"""Fuzzing (hypothesis): whatever the input, a dead letter or a clear error, never a crash,
never a lost neighbour.

Bounded and deterministic: every test runs a fixed number of examples with
`derandomize=True` (the same examples on every run, no example database), so the suite
takes the same time and finds the same things in CI as on a laptop.
"""
