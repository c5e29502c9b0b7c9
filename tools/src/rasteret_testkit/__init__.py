"""Workspace-only test helpers for rasteret (loopback servers, GDAL-written fixtures)."""
