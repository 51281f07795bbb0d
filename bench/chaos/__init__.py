"""`make chaos`: faults injected into the suite as `make run` starts it (every service on a
private PostgreSQL, a private Redis, the embedded broker) under a steady order load, with the
suite's invariants (`tools/invariants.py`) checked after each fault.
`python -m bench.chaos --help`."""
