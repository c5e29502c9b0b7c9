"""Collections: records plus filters (:mod:`.collection`), opened from Parquet or Arrow
(:mod:`.source`, :mod:`.tables`), described (:mod:`.describe`), exported
(:mod:`.arrow_export`, :mod:`.export`), cached in workspaces (:mod:`.workspace`)."""
