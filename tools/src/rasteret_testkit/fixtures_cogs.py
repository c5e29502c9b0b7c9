"""COG fixture builders (GDAL via rasterio, written at test time)."""
