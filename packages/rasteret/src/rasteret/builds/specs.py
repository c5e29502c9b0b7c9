"""What a build is asked to do: the frozen specs the top-level build functions construct.

``rasteret.build_from_stac`` / ``build_from_table`` / ``build`` keep 0.4.1's flat keywords;
each validates them once and builds one of these values, which the rest of the build path
takes as is. The STAC and record-table specs pair rasteret_ingest's pipeline specs (source →
enrichment → destination); :class:`DatasetBuild` is a catalog dataset, which
:func:`rasteret.builds.dataset.plan` turns into a STAC build, a record-table build or a
collection to open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasteret._options import build_progress
from rasteret.core.index_spec import RecordIndexSpec
from rasteret.query.filters import Subset
from rasteret.query.validate import Box
from rasteret_catalog import CloudConfig, freeze
from rasteret_ingest import Destination, EnrichOptions, StacSource, TableSource

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.protocols import Backend

__all__ = ["DatasetBuild", "OpenCollection", "StacBuild", "TableBuild", "enrichment"]


def enrichment(
    backend: Backend | None,
    max_concurrent: int,
    deadline: float | None,
    request_timeout: float | None,
    bands: tuple[str, ...] | None = None,
) -> EnrichOptions:
    """How a build indexes COG headers: its backend and limits; a progress bar as the global
    option says (else on a terminal)."""
    return EnrichOptions(
        bands=bands,
        backend=backend,
        max_concurrent=max_concurrent,
        progress=build_progress(),
        deadline=deadline,
        request_timeout=request_timeout,
    )


@dataclass(frozen=True, slots=True)
class StacBuild:
    """A collection indexed from a STAC API or static catalog."""

    source: StacSource
    enrich: EnrichOptions
    destination: Destination


@dataclass(frozen=True, slots=True)
class TableBuild:
    """A collection built from a record table.

    Attributes:
        source: The record table and how it maps onto the contract.
        enrich: Header enrichment (None: the table is normalised only).
        destination: Workspace, name, force.
        post_filter: Criteria applied to the built collection (a date range on a source
            whose datetimes are strings cannot be pushed into the scan).
    """

    source: TableSource
    enrich: EnrichOptions | None
    destination: Destination
    post_filter: Subset | None = None


@dataclass(frozen=True, slots=True)
class OpenCollection:
    """A ready collection to open (a dataset's ``collection_uri``), then filter.

    ``record_index`` is the dataset's record index when it has one (dual-surface datasets such
    as ``aef/v1-annual``): the filter then runs on the index.
    """

    uri: str
    name: str
    data_source: str
    filesystem: Any = field(default=None, compare=False)
    subset: Subset | None = None
    record_index: RecordIndexSpec | None = None


@dataclass(frozen=True, slots=True)
class DatasetBuild:
    """``rasteret.build(dataset, ...)``: a registered dataset, built or opened.

    Attributes mirror the keywords of :func:`rasteret.build`; ``bbox`` is validated and
    ``date_range`` parsed-checked on construction by :meth:`rasteret.api.build`.
    """

    dataset: str
    name: str
    bbox: Box | None = None
    date_range: tuple[Any, Any] | None = None
    workspace_dir: str | None = None
    force: bool = False
    max_concurrent: int = 50
    query: Mapping[str, Any] | None = None
    prefer_geoparquet: bool = False
    stac_api: str | None = None
    cloud_config: CloudConfig | None = None
    backend: Backend | None = None
    deadline: float | None = None
    request_timeout: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "query", freeze(self.query))
        if self.date_range is not None:
            object.__setattr__(self, "date_range", tuple(self.date_range))
