"""rasteret_cog."""
