"""pytest plugin: fixtures shared by every package's tests (registered via the pytest11 entry point)."""
