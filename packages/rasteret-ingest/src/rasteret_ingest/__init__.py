"""rasteret_ingest."""
