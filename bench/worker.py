"""One benchmark run in a fresh process: ``python -m bench.worker READER TASK.json CFG.json``.

Imports the reader module (timed as ``import_s``), calls ``setup(task, cfg)`` (index load,
warm handles; timed as ``setup_s``) and then ``run(state)`` between two ``time.monotonic()``
stamps (``wall_s``; the object server logs the same clock, so the runner attributes requests
to the timed region only). ``run`` may return ``"_finish"``: a callable run after the clock
(checksum of a preallocated output) whose dict is merged in; and ``"phases"``: seconds per
phase inside the timed region (e.g. open vs read). Prints one JSON line. Standard library only: this module runs in the
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
    "api": "bench.readers.api",
    "floor": "bench.readers.floor_reader",
    "async-geotiff": "bench.readers.async_geotiff_reader",
    "virtual": "bench.readers.virtual_reader",
    "odc-stac": "bench.readers.odc_stac_reader",
    "engine": "bench.readers.engine",
    "rasterio": "bench.readers.rasterio_reader",
    "async-tiff": "bench.readers.async_tiff_reader",
}


def peak_rss_mb() -> float:
    """Peak resident memory of this process since its ``exec`` (``VmHWM``).

    ``ru_maxrss`` is not used: Linux carries the parent's high-water mark across fork + exec,
    so every child of a large runner would report at least the runner's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Prepared(Exception):
    """Raised to leave the run after ``prepare`` (``cfg["prepare_only"]``)."""


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
        if cfg.get("prepare_only"):
            # build what the reader keeps between runs (a persisted index) in a process of its
            # own, so the timed runs' peak RSS and CPU do not include it
            if hasattr(mod, "prepare"):
                mod.prepare(task, cfg)
            out["ok"] = True
            raise _Prepared
        t = time.monotonic()
        state = mod.setup(task, cfg)
        out["setup_s"] = time.monotonic() - t
        t0 = time.monotonic()
        result = mod.run(state)
        t1 = time.monotonic()
        # work a reader defers past the clock (checksums of preallocated outputs, cleanup)
        finish = result.pop("_finish", None)
        if finish is not None:
            result.update(finish())
        out.update(result)
        out.update(ok=True, t0=t0, t1=t1, wall_s=t1 - t0)
        if hasattr(mod, "versions"):
            out["versions"] = mod.versions()
    except _Prepared:
        pass
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        out["traceback"] = traceback.format_exc()[-4000:]
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.update(maxrss_mb=peak_rss_mb(), cpu_s=ru.ru_utime + ru.ru_stime)
    sys.stdout.write("BENCH-RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
