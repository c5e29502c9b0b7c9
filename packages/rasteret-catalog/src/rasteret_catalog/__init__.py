"""rasteret_catalog."""
