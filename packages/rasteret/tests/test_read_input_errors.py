"""Unusable AOI / point / window inputs of the reads raise rasteret's named errors.

Every check runs while the typed request is built, before any record is planned or fetched,
so a collection of made-up records is enough. The errors are ``InvalidInputError`` (a
``ValueError``, as rasteret 0.4.1 raised) or ``UnsupportedGeometryError`` (a ``TypeError``),
and their messages name the input that was rejected.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
import shapely

import rasteret
from rasteret.errors import InvalidInputError, UnsupportedGeometryError

NAN = float("nan")


@pytest.fixture
def coll(make_records: Any) -> rasteret.Collection:
    return rasteret.as_collection(make_records(3))


def _wkb_table(wkts: list[str], crs: str | None = None) -> pa.Table:
    """A table with one GeoArrow WKB column ``g`` (with ``crs`` metadata when given)."""
    meta = {b"ARROW:extension:name": b"geoarrow.wkb"}
    if crs is not None:
        meta[b"ARROW:extension:metadata"] = f'{{"crs": "{crs}"}}'.encode()
    field = pa.field("g", pa.binary(), metadata=meta)
    return pa.Table.from_arrays(
        [pa.array([shapely.from_wkt(w).wkb for w in wkts])], schema=pa.schema([field])
    )


@pytest.mark.parametrize("read", ["get_numpy", "get_xarray", "get_gdf"])
@pytest.mark.parametrize(
    ("box", "match"),
    [
        ((1, 1, 0, 0), r"bbox west \(1\.0\) must be less than east \(0\.0\)"),
        ((0, 1, 1, 0), r"bbox south \(1\.0\) must be less than north \(0\.0\)"),
        ((0.5, 0, 0.5, 1), r"bbox west \(0\.5\) must be less than east \(0\.5\)"),
    ],
)
def test_an_inverted_bbox_aoi_is_an_invalid_input_error(
    coll: rasteret.Collection, read: str, box: tuple[float, ...], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        getattr(coll, read)(box, ["B04"])
    assert isinstance(info.value, ValueError) and str(info.value).startswith(f"{read} bbox")


def test_reads_and_subset_reject_an_inverted_box_alike(coll: rasteret.Collection) -> None:
    with pytest.raises(InvalidInputError) as in_subset:
        coll.subset(geometries=(1, 1, 0, 0))
    with pytest.raises(InvalidInputError) as in_read:
        coll.get_numpy((1, 1, 0, 0), ["B04"])
    assert type(in_read.value) is type(in_subset.value)
    tail = "west (1.0) must be less than east (0.0); order is (west, south, east, north)"
    assert str(in_read.value).endswith(tail) and str(in_subset.value).endswith(tail)


@pytest.mark.parametrize(
    ("geometries", "kwargs", "named"),
    [
        ([(1, 1, 0, 0)], {}, "[(1, 1, 0, 0)]"),
        (b"not wkb", {}, "b'not wkb'"),
        ({"type": "Polygon", "coordinates": "x"}, {}, "'coordinates': 'x'"),
        ({"type": "Blob"}, {}, "'Blob'"),
        ([], {}, "(input: [])"),
        (_wkb_table(["POLYGON ((0 0, 1 0, 1 1, 0 0))"]), {}, "missing GeoArrow CRS metadata"),
        (
            _wkb_table(["POLYGON ((0 0, 1 0, 1 1, 0 0))"]),
            {"geometry_column": "nope", "geometry_crs": 4326},
            "geometry_column='nope' not found",
        ),
    ],
)
def test_unusable_aoi_inputs_are_invalid_input_errors_naming_the_input(
    coll: rasteret.Collection, geometries: Any, kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        coll.get_numpy(geometries, ["B04"], **kwargs)
    assert named in str(info.value) and str(info.value).startswith("get_numpy")


@pytest.mark.parametrize(
    ("points", "kwargs", "named"),
    [
        (shapely.points([0.5, NAN], [0.5, 1.0]), {}, "point 1 has non-finite coordinates (nan, 1.0)"),
        ([shapely.Point(float("inf"), 1.0)], {}, "point 0 has non-finite coordinates (inf, 1.0)"),
        (pa.table({"x": [1.0, None], "y": [1.0, 2.0]}), {"geometry_crs": 4326},
         "point 1 has non-finite coordinates (nan, 2.0)"),
        (pa.table({"x": ["a"], "y": ["b"]}), {"geometry_crs": 4326},
         "points column 'x' must hold numbers, got string"),
        (pa.table({"x": [1.0], "y": [1.0]}), {"x_column": "lon", "y_column": "y",
                                               "geometry_crs": 4326},
         "points table has no column(s) ['lon']"),
        ([shapely.Point()], {}, "point 0 is an empty Point"),
        (b"not wkb", {}, "(input: b'not wkb')"),
        ((1, 1, 0, 0), {}, "got (1, 1, 0, 0)"),
        (_wkb_table(["POINT (1 1)"]), {}, "missing GeoArrow CRS metadata"),
    ],
)  # fmt: skip
def test_unusable_points_are_invalid_input_errors_naming_the_input(
    coll: rasteret.Collection, points: Any, kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        coll.sample_points(points, ["B04"], **kwargs)
    assert named in str(info.value)


def test_a_point_input_of_the_wrong_type_names_the_input(coll: rasteret.Collection) -> None:
    with pytest.raises(UnsupportedGeometryError, match=r"\(input: \[\(nan, 1\)\]\)") as info:
        coll.sample_points([(NAN, 1)], ["B04"])
    assert isinstance(info.value, TypeError)


def test_torchgeo_geometries_are_checked_like_the_reads(coll: rasteret.Collection) -> None:
    with pytest.raises(InvalidInputError, match=r"geometries bbox west \(1\.0\)"):
        coll.to_torchgeo_dataset(bands=["B04"], geometries=(1, 1, 0, 0))
    with pytest.raises(InvalidInputError, match=r"geometries_crs='EPSG:0'"):
        coll.to_torchgeo_dataset(bands=["B04"], geometries=(0, 0, 1, 1), geometries_crs="EPSG:0")


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ((1, 1, 0, 0), r"xmin < xmax and ymin < ymax, got \(1, 1, 0, 0\)"),
        ((0, 0, NAN, 1), r"finite numbers, got \(0, 0, nan, 1\)"),
        ((0, 0, 1), r"\(xmin, ymin, xmax, ymax\), got \(0, 0, 1\)"),
    ],
)
def test_read_window_bounds_are_invalid_input_errors(
    coll: rasteret.Collection, bounds: tuple[float, ...], match: str
) -> None:
    ids = coll.to_table(["id"]).column("id").to_pylist()[:1]
    with pytest.raises(InvalidInputError, match=match):
        coll.read_window(record_ids=ids, bounds=bounds, res=(1, 1), bands=["B04"])
