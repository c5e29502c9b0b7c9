"""Object identity: the ETag / size / Last-Modified that pin the bytes an index describes.

A collection stores, per asset, the identity of the COG it indexed (``{band}_metadata``
fields ``etag``, ``file_size``, ``last_modified``). Tile offsets are only valid for that
exact object. The fetch layer carries the expected identity with every range request and
compares it with the metadata of each ranged response it receives (free: the response
headers come with the bytes), so bytes of a rewritten object are never returned.

Comparison rules (:meth:`ObjectIdentity.mismatch`): ETags are compared when both sides
have one (a ``W/`` weak prefix is ignored); sizes whenever both are known; Last-Modified
only when ETags cannot be compared, with one second of tolerance (HTTP dates have
one-second resolution).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rasteret_catalog.schema import BandField

__all__ = ["ObjectIdentity", "StalenessPolicy"]

StalenessPolicy = Literal["raise", "warn", "off"]
"""What a range of an object that changed since indexing does: ``"raise"`` fails it with
:class:`~rasteret_io.errors.StaleObjectError` (then handled by the read's error policy);
``"warn"`` issues a :class:`~rasteret_io.errors.StaleObjectWarning` and returns the range
as failed (never raising), so the caller can re-read the header; ``"off"`` skips the check."""


def _utc(value: Any) -> _dt.datetime | None:
    if not isinstance(value, _dt.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value


def _bare(etag: str) -> str:
    return etag.strip().removeprefix("W/")


@dataclass(frozen=True, slots=True)
class ObjectIdentity:
    """What identifies one version of an object.

    Attributes:
        etag: ETag as the store reports it (quotes kept), or None.
        size: Object size in bytes, or None.
        last_modified: Last-Modified as a naive UTC datetime, or None.
    """

    etag: str | None = None
    size: int | None = None
    last_modified: _dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.last_modified is not None:
            object.__setattr__(self, "last_modified", _utc(self.last_modified))
        if self.size is not None:
            object.__setattr__(self, "size", int(self.size))
        if self.etag == "":
            object.__setattr__(self, "etag", None)

    @property
    def known(self) -> bool:
        """Whether any field is set (an all-None identity checks nothing)."""
        return self.etag is not None or self.size is not None or self.last_modified is not None

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ObjectIdentity:
        """Build from an obstore ``ObjectMeta`` (``e_tag``, ``size``, ``last_modified``)."""
        return cls(
            meta.get("e_tag"), meta.get("size"), meta.get("last_modified")
        )  # normalised in __post_init__

    @classmethod
    def from_band_metadata(cls, struct: Mapping[str, Any] | None) -> ObjectIdentity | None:
        """Build from a ``{band}_metadata`` struct of a collection row.

        Args:
            struct: The struct as a mapping (``etag``, ``file_size``, ``last_modified``
                fields of the schema contract; absent in collections written before 1.1).

        Returns:
            The identity recorded at build time, or None when nothing was recorded.
        """
        if not struct:
            return None
        ident = cls(
            struct.get(BandField.ETAG),
            struct.get(BandField.FILE_SIZE),
            struct.get(BandField.LAST_MODIFIED),
        )
        return ident if ident.known else None

    def mismatch(self, observed: ObjectIdentity) -> str | None:
        """Explain how ``observed`` differs from this (expected) identity.

        Args:
            observed: Identity reported with a response.

        Returns:
            The differences (``'ETag "a" is now "b"; size 10 is now 12 bytes'``), or None
            when nothing contradicts.
        """
        why: list[str] = []
        etags = self.etag is not None and observed.etag is not None
        if etags and _bare(self.etag or "") != _bare(observed.etag or ""):
            why.append(f"ETag {self.etag} is now {observed.etag}")
        if self.size is not None and observed.size is not None and self.size != observed.size:
            why.append(f"size {self.size} is now {observed.size} bytes")
        was, now = self.last_modified, observed.last_modified
        if (
            not etags
            and was is not None
            and now is not None
            and abs((now - was).total_seconds()) >= 1.0
        ):
            why.append(f"Last-Modified {was.isoformat()}Z is now {now.isoformat()}Z")
        return "; ".join(why) or None

    def __str__(self) -> str:
        parts = []
        if self.etag is not None:
            parts.append(f"etag={self.etag}")
        if self.size is not None:
            parts.append(f"size={self.size}")
        if self.last_modified is not None:
            parts.append(f"last_modified={self.last_modified.isoformat()}Z")
        return ", ".join(parts) or "unknown"
