"""Sync facade, pickling and fork safety."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import pickle
import subprocess
import sys
import textwrap
import threading

import pytest

from rasteret_io import RangeRequest, RoutingBackend, create_backend, fetch_ranges, run_sync
from rasteret_io.runtime import background_loop


async def _add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def test_run_sync_plain() -> None:
    assert run_sync(_add(1, 2)) == 3


def test_run_sync_inside_running_loop() -> None:
    """As in Jupyter: a sync API called from a coroutine on a running loop."""

    async def notebook_cell() -> int:
        return run_sync(_add(2, 3))

    assert asyncio.run(notebook_cell()) == 5


def test_run_sync_from_threads() -> None:
    out: list[int] = []
    threads = [
        threading.Thread(target=lambda i=i: out.append(run_sync(_add(i, 1)))) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(out) == list(range(1, 9))


def test_run_sync_on_own_loop_refuses() -> None:
    async def inner() -> None:
        run_sync(_add(1, 1))

    with pytest.raises(RuntimeError, match="await"):
        run_sync(inner())


def test_run_sync_timeout_and_exception() -> None:
    with pytest.raises(TimeoutError):
        run_sync(asyncio.sleep(5), timeout=0.05)

    async def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_sync(boom())


def test_backend_pickles_config_only(object_server, payload) -> None:
    key, data, _ = payload
    backend = create_backend(
        region="eu-west-1",
        default_s3_config={"endpoint": object_server.base_url},
        url_patterns={"https://mirror.example/": object_server.base_url + "/"},
    )
    url = "https://mirror.example/" + key
    run_sync(fetch_ranges(backend, [RangeRequest(url, 0, 5)]))
    assert backend.store_count == 1
    clone = pickle.loads(pickle.dumps(backend))
    assert isinstance(clone, RoutingBackend) and clone.store_count == 0
    assert clone.url_patterns == backend.url_patterns
    res = run_sync(fetch_ranges(clone, [RangeRequest(url, 10, 20)]))
    assert bytes(res[0].data) == data[10:20]


def _child_read(backend, url: str, q) -> None:
    try:
        res = run_sync(fetch_ranges(backend, [RangeRequest(url, 100, 200)]), timeout=20)
        q.put(("ok", bytes(res[0].data), backend.store_count))
    except Exception as exc:
        q.put(("error", type(exc).__name__, str(exc)))


def _run_child(backend, url: str):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child_read, args=(backend, url, q))
    proc.start()
    try:
        return q.get(timeout=30)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_fork_after_use_fails_fast_not_hangs(object_server, payload) -> None:
    key, _, _ = payload
    url = object_server.url(key)
    backend = create_backend()
    run_sync(fetch_ranges(backend, [RangeRequest(url, 0, 5)]))  # starts obstore's runtime
    parent_loop = background_loop()
    status, name, message = _run_child(backend, url)
    assert (status, name) == ("error", "ForkSafetyError")
    assert "spawn" in message
    assert background_loop() is parent_loop  # parent unaffected
    assert run_sync(fetch_ranges(backend, [RangeRequest(url, 0, 5)]))[0].ok


def test_spawned_worker_rebuilds_backend(object_server, payload, tmp_path) -> None:
    """Pickled backend + 'spawn' workers (the supported multi-process path)."""
    key, data, _ = payload
    url = object_server.url(key)
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import multiprocessing as mp, pickle, sys
            from rasteret_io import RangeRequest, create_backend, fetch_ranges, run_sync

            def work(backend):
                res = run_sync(fetch_ranges(backend, [RangeRequest({url!r}, 100, 200)]))
                return bytes(res[0].data), backend.store_count

            if __name__ == "__main__":
                backend = create_backend(region="us-east-1")
                run_sync(fetch_ranges(backend, [RangeRequest({url!r}, 0, 5)]))
                with mp.get_context("spawn").Pool(2) as pool:
                    out = pool.map(work, [backend, backend])
                sys.stdout.write(repr(out))
            """
        )
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = eval(proc.stdout)
    assert out == [(data[100:200], 1), (data[100:200], 1)]


def test_import_is_light() -> None:
    code = (
        "import sys, rasteret_io; rasteret_io.RangeRequest; rasteret_io.run_sync; "
        "rasteret_io.create_backend; rasteret_io.coalesce_ranges; "
        "print(sorted(m for m in ('obstore', 'numpy', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
