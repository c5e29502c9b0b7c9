"""One benchmark run in a fresh process: ``python -m bench.worker READER TASK.json CFG.json``.

Imports the reader module (timed as ``import_s``), calls ``setup(task, cfg)`` (index load,
warm handles; timed as ``setup_s``) and then ``run(state)`` between two ``time.monotonic()``
stamps (``wall_s``; the object server logs the same clock, so the runner attributes requests
to the timed region only). Prints one JSON line. Standard library only: this module runs in the
peers' interpreters too.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
import traceback

MODULES = {
    "ours": "bench.readers.ours",
    "rasterio": "bench.readers.rasterio_reader",
    "async-tiff": "bench.readers.async_tiff_reader",
    "rasteret-0.4.1": "bench.readers.rasteret041",
}


def main(argv: list[str]) -> int:
    family, task_path, cfg_path = argv
    with open(task_path, encoding="utf-8") as fh:
        task = json.load(fh)
    with open(cfg_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    out: dict = {"ok": False}
    try:
        t = time.monotonic()
        mod = importlib.import_module(MODULES[family])
        out["import_s"] = time.monotonic() - t
        t = time.monotonic()
        state = mod.setup(task, cfg)
        out["setup_s"] = time.monotonic() - t
        t0 = time.monotonic()
        result = mod.run(state)
        t1 = time.monotonic()
        out.update(result)
        out.update(ok=True, t0=t0, t1=t1, wall_s=t1 - t0)
        if hasattr(mod, "versions"):
            out["versions"] = mod.versions()
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        out["traceback"] = traceback.format_exc()[-4000:]
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.update(maxrss_mb=ru.ru_maxrss / 1024, cpu_s=ru.ru_utime + ru.ru_stime)
    sys.stdout.write("BENCH-RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
