"""Reader adapters: each has ``setup(task, cfg) -> state`` and ``run(state) -> dict``."""
