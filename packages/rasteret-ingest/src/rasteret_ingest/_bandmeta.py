"""Turn a parsed COG header into one ``{band}_metadata`` struct value (a dict).

The mapping itself is ``rasteret_io.header_meta.band_metadata`` — the one place that both the
indexer and the read engine use — so what is written is exactly what readers expect. This
module adds the object's ETag / size / Last-Modified and translates errors.
"""

from __future__ import annotations

from typing import Any

from rasteret_cog import CogHeader
from rasteret_ingest._source import ObjectInfo
from rasteret_ingest.errors import UnusableHeaderError
from rasteret_io.errors import ReadError
from rasteret_io.header_meta import band_metadata

__all__ = ["header_to_band_metadata"]


def header_to_band_metadata(
    header: CogHeader, band_index: int = 0, info: ObjectInfo | None = None
) -> dict[str, Any]:
    """Build the ``{band}_metadata`` value for sample ``band_index`` of ``header``.

    Raises:
        UnusableHeaderError: stripped image, no geotransform, unsupported sample type or a band
            index beyond the file's samples.
    """
    try:
        return band_metadata(
            header,
            band_index=band_index,
            etag=info.etag if info else None,
            file_size=info.size if info else None,
            last_modified=info.last_modified if info else None,
        )
    except ReadError as exc:
        raise UnusableHeaderError(str(exc)) from exc
