"""Output schemas under their rasteret 0.4.1 module path (``rasteret.types``)."""

from __future__ import annotations

from rasteret.read.points import output_schema

__all__ = ["POINT_SAMPLES_NEIGHBORHOOD_SCHEMA", "POINT_SAMPLES_SCHEMA"]

POINT_SAMPLES_SCHEMA = output_schema(neighbourhood=False)
"""Schema of ``Collection.sample_points`` results."""

POINT_SAMPLES_NEIGHBORHOOD_SCHEMA = output_schema(neighbourhood=True)
"""Schema of ``sample_points(..., return_neighbourhood=...)`` results."""
