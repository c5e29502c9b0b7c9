"""rasteret_ingest: STAC APIs, static catalogs and record tables -> header-enriched collections.

Exports are lazy (module ``__getattr__``): ``import rasteret_ingest`` imports neither pyarrow nor
pystac nor obstore until a name that needs them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rasteret_io import lazy_exports

__version__ = "0.5.0"

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_WORKSPACE",
    "BandMapError",
    "BuildResult",
    "BuildSpecError",
    "CollectionExistsError",
    "CrsResolutionError",
    "Destination",
    "EnrichFailure",
    "EnrichOptions",
    "EnrichReport",
    "EnrichmentError",
    "IngestError",
    "IngestWarning",
    "NoItemsError",
    "Prepared",
    "RecordTableError",
    "SharedAssetError",
    "StacSearchError",
    "StacSource",
    "StaleAsset",
    "TableNormalizationError",
    "TableSource",
    "UnusableHeaderError",
    "WriteError",
    "WriteTarget",
    "__version__",
    "add_bbox",
    "arrow_table",
    "build_record_table",
    "build_stac_collection",
    "build_stac_table",
    "build_table_collection",
    "collection_metadata",
    "create_name",
    "datetime_span",
    "default_workspace",
    "enrich_records",
    "enrich_table",
    "geoparquet_metadata",
    "is_arrow_object",
    "items_to_table",
    "load_cached",
    "normalize_geometry",
    "normalize_table",
    "parse_name",
    "prepare_stac",
    "prepare_table",
    "read_collection",
    "read_record_table",
    "records_collection_dir",
    "remove_stale_temps",
    "resolve_backend",
    "search_items",
    "stac_collection_dir",
    "stale_assets",
    "tag_geoarrow_wkb",
    "update_collection",
    "write_collection",
    "write_records",
]

_WHERE = {
    "DEFAULT_WORKSPACE": "naming",
    "create_name": "naming",
    "default_workspace": "naming",
    "parse_name": "naming",
    "records_collection_dir": "naming",
    "stac_collection_dir": "naming",
    "BandMapError": "errors",
    "BuildSpecError": "errors",
    "CollectionExistsError": "errors",
    "CrsResolutionError": "errors",
    "EnrichmentError": "errors",
    "IngestError": "errors",
    "IngestWarning": "errors",
    "NoItemsError": "errors",
    "RecordTableError": "errors",
    "SharedAssetError": "errors",
    "StacSearchError": "errors",
    "TableNormalizationError": "errors",
    "UnusableHeaderError": "errors",
    "WriteError": "errors",
    "collection_metadata": "metadata",
    "datetime_span": "metadata",
    "geoparquet_metadata": "metadata",
    "tag_geoarrow_wkb": "metadata",
    "normalize_table": "normalize",
    "normalize_geometry": "normalize",
    "add_bbox": "normalize",
    "read_collection": "writer",
    "remove_stale_temps": "writer",
    "write_collection": "writer",
    "EnrichFailure": "enrich",
    "EnrichReport": "enrich",
    "enrich_table": "enrich",
    "items_to_table": "stac",
    "search_items": "stac",
    "arrow_table": "table",
    "is_arrow_object": "table",
    "read_record_table": "table",
    "DEFAULT_MAX_CONCURRENT": "specs",
    "Destination": "specs",
    "EnrichOptions": "specs",
    "Prepared": "specs",
    "StacSource": "specs",
    "TableSource": "specs",
    "WriteTarget": "specs",
    "build_record_table": "pipeline",
    "build_stac_table": "pipeline",
    "enrich_records": "pipeline",
    "prepare_stac": "pipeline",
    "prepare_table": "pipeline",
    "resolve_backend": "pipeline",
    "write_records": "pipeline",
    "BuildResult": "builders",
    "build_stac_collection": "builders",
    "build_table_collection": "builders",
    "load_cached": "builders",
    "update_collection": "update",
    "StaleAsset": "verify",
    "stale_assets": "verify",
}

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_ingest.builders import (
        BuildResult,
        build_stac_collection,
        build_table_collection,
        load_cached,
    )
    from rasteret_ingest.enrich import (
        EnrichFailure,
        EnrichReport,
        enrich_table,
    )
    from rasteret_ingest.errors import (
        BandMapError,
        BuildSpecError,
        CollectionExistsError,
        CrsResolutionError,
        EnrichmentError,
        IngestError,
        IngestWarning,
        NoItemsError,
        RecordTableError,
        SharedAssetError,
        StacSearchError,
        TableNormalizationError,
        UnusableHeaderError,
        WriteError,
    )
    from rasteret_ingest.metadata import (
        collection_metadata,
        datetime_span,
        geoparquet_metadata,
        tag_geoarrow_wkb,
    )
    from rasteret_ingest.naming import (
        DEFAULT_WORKSPACE,
        create_name,
        default_workspace,
        parse_name,
        records_collection_dir,
        stac_collection_dir,
    )
    from rasteret_ingest.normalize import (
        add_bbox,
        normalize_geometry,
        normalize_table,
    )
    from rasteret_ingest.pipeline import (
        build_record_table,
        build_stac_table,
        enrich_records,
        prepare_stac,
        prepare_table,
        resolve_backend,
        write_records,
    )
    from rasteret_ingest.specs import (
        DEFAULT_MAX_CONCURRENT,
        Destination,
        EnrichOptions,
        Prepared,
        StacSource,
        TableSource,
        WriteTarget,
    )
    from rasteret_ingest.stac import (
        items_to_table,
        search_items,
    )
    from rasteret_ingest.table import (
        arrow_table,
        is_arrow_object,
        read_record_table,
    )
    from rasteret_ingest.update import (
        update_collection,
    )
    from rasteret_ingest.verify import (
        StaleAsset,
        stale_assets,
    )
    from rasteret_ingest.writer import (
        read_collection,
        remove_stale_temps,
        write_collection,
    )

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
