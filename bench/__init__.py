"""rasteret benchmark suite (run with ``uv run python -m bench``; see docs/benchmarks.md).

Only the standard library is imported at package level: reader workers run this package in
other interpreters (the peers' Python 3.12 venvs) with ``PYTHONPATH`` pointing here.
"""
