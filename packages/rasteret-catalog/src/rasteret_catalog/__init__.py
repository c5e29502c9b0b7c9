"""rasteret_catalog: dataset descriptors, the dataset registry and the collection schema contract.

Standard library only. ``rasteret_catalog.arrow`` (extra ``[arrow]``) renders the contract as
pyarrow types and validates tables; it is the only module that imports pyarrow.
"""

from rasteret_catalog import schema
from rasteret_catalog.bands import (
    LANDSAT_C2L2_BANDS,
    SENTINEL2_BANDS,
    BandRegistry,
    DataSources,
    asset_key_candidates,
    resolve_band_asset,
)
from rasteret_catalog.cloud import (
    CloudConfig,
    backend_config_from_cloud_config,
    rewrite_url,
    s3_overrides_from_config,
)
from rasteret_catalog.descriptor import (
    DatasetDescriptor,
    complete_field_roles,
    surface_has_field,
    surface_supports_filter,
    validate_dataset_id,
)
from rasteret_catalog.errors import (
    BandCodeError,
    CatalogError,
    DescriptorError,
    DuplicateDatasetError,
    LocalRegistryError,
    SchemaError,
    UnknownColumnError,
    UnknownDatasetError,
)
from rasteret_catalog.frozen import FrozenMap, freeze
from rasteret_catalog.local import (
    default_registry_path,
    load_local_descriptors,
    remove_local_descriptor,
    save_local_descriptor,
)
from rasteret_catalog.registry import (
    DatasetRegistry,
    RegistrySnapshot,
    builtin_descriptors,
    export_local_descriptor,
    unregister_local_descriptor,
)
from rasteret_catalog.schema import SCHEMA_VERSION

__version__ = "0.5.0"

__all__ = [
    "LANDSAT_C2L2_BANDS",
    "SCHEMA_VERSION",
    "SENTINEL2_BANDS",
    "BandCodeError",
    "BandRegistry",
    "CatalogError",
    "CloudConfig",
    "DataSources",
    "DatasetDescriptor",
    "DatasetRegistry",
    "DescriptorError",
    "DuplicateDatasetError",
    "FrozenMap",
    "LocalRegistryError",
    "RegistrySnapshot",
    "SchemaError",
    "UnknownColumnError",
    "UnknownDatasetError",
    "__version__",
    "asset_key_candidates",
    "backend_config_from_cloud_config",
    "builtin_descriptors",
    "complete_field_roles",
    "default_registry_path",
    "export_local_descriptor",
    "freeze",
    "load_local_descriptors",
    "remove_local_descriptor",
    "resolve_band_asset",
    "rewrite_url",
    "s3_overrides_from_config",
    "save_local_descriptor",
    "schema",
    "surface_has_field",
    "surface_supports_filter",
    "unregister_local_descriptor",
    "validate_dataset_id",
]
