"""odc-stac (``odc.stac.load``) over in-memory STAC items (own venv ``odc``).

Items carry the projection extension (``proj:epsg``, ``proj:shape``, ``proj:transform``),
so odc-stac plans the read without opening a file; built in ``setup`` (not timed), like a STAC
search result held in memory. The timed region is one ``odc.stac.load(items, bands,
x=..., y=..., crs=..., resolution=..., pool=16)`` onto the AOI's 10 m grid (nearest, pixel
aligned: values equal the other readers'), read by rasterio / GDAL ``/vsicurl/`` with the
same COG-tuned GDAL settings as the rasterio reader. Kinds: ``window`` (W1, W5, W6).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from bench.readers._common import Checksum
from bench.readers.rasterio_reader import GDAL_ENV

POOL = 16
PROJ_EXT = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("odc-stac", "rasterio", "pystac")}


def _items(task: dict[str, Any], base: str) -> list[Any]:
    import pystac

    res, (x0, y1), size = task["res"], task["origin"], task["size"]
    items = []
    for s in task["scenes"]:
        w, so, e, n = s["bbox"]
        item = pystac.Item(
            id=s["id"],
            geometry={
                "type": "Polygon",
                "coordinates": [[[w, so], [e, so], [e, n], [w, n], [w, so]]],
            },
            bbox=[w, so, e, n],
            datetime=dt.datetime.fromisoformat(s["datetime"]).replace(tzinfo=dt.UTC),
            properties={
                "proj:epsg": task["epsg"],
                "proj:shape": [size, size],
                "proj:transform": [res, 0.0, x0, 0.0, -res, y1],
            },
            stac_extensions=[PROJ_EXT],
        )
        for b in task["bands"]:
            item.add_asset(
                b,
                pystac.Asset(
                    href=f"{base}/{s['keys'][b]}",
                    media_type="image/tiff; application=geotiff; profile=cloud-optimized",
                    roles=["data"],
                ),
            )
        items.append(item)
    return items


def setup(task: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    import numpy  # noqa: F401
    import odc.stac  # noqa: F401
    import rasterio  # noqa: F401

    if task["kind"] != "window":
        raise ValueError(f"odc-stac reader: {task['kind']} is not implemented")
    os.environ.update(GDAL_ENV)
    return {"task": task, "items": _items(task, cfg["base_url"])}


def run(state: dict[str, Any]) -> dict[str, Any]:
    import odc.stac

    task = state["task"]
    x0, y0, x1, y1 = task["bounds"]
    ds = odc.stac.load(
        state["items"],
        bands=task["bands"],
        x=(x0, x1),
        y=(y0, y1),
        crs=f"EPSG:{task['epsg']}",
        resolution=task["res"],
        groupby="id",
        pool=POOL,
        resampling="nearest",
    )

    def finish() -> dict[str, Any]:
        cs = Checksum()
        for b in task["bands"]:
            cs.add_array(ds[b].values)
        return cs.result()

    return {"_finish": finish}
