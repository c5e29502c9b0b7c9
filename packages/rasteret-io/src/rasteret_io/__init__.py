"""rasteret_io."""
