"""Per-request URL signing: a range reader that signs each URL just before it is fetched.

Some hosts serve their objects only through short-lived signed URLs (Planetary Computer's
Azure SAS tokens expire after about an hour). A collection must never store such a URL: the
token is a secret, and the stored URL stops working when it expires. Collections store the
plain asset URLs instead; :class:`SigningReader` maps every URL through a *signer* (a callable
``url -> signed url``) at request time and hands the signed URL to the reader it wraps.

Everything above the wrapper (the fetch layer's grouping, identity checks, error messages and
logs) sees the unsigned URL; errors of the wrapped reader pass through the fetch layer's
redaction like any other.

Signing schemes are named (:data:`PLANETARY_COMPUTER`), so a collection can record which one
its assets need without recording any secret; :func:`scheme_signer` turns the name back into
a signer.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rasteret_io.backend import as_range_reader
from rasteret_io.errors import ConfigError
from rasteret_io.protocols import IdentifiedRangeReader

if TYPE_CHECKING:  # pragma: no cover
    from rasteret_io.identity import ObjectIdentity
    from rasteret_io.protocols import Backend, Buffer, RangeBody, RangeReader

__all__ = [
    "PLANETARY_COMPUTER",
    "SIGNING_SCHEMES",
    "IdentifiedSigningReader",
    "Signer",
    "SigningReader",
    "scheme_signer",
    "signing_reader",
]

Signer = Callable[[str], str]
"""Turns an object URL into the URL to request (e.g. with a SAS token appended)."""

PLANETARY_COMPUTER = "planetary_computer"
"""Microsoft Planetary Computer SAS signing: ``planetary_computer.sign(url)`` (the package
caches one token per storage container and renews it before it expires)."""

SIGNING_SCHEMES: tuple[str, ...] = (PLANETARY_COMPUTER,)
"""The scheme names :func:`scheme_signer` knows."""

# scheme -> (module to import, its signing function, the pip package that provides it)
_SCHEMES: dict[str, tuple[str, str, str]] = {
    PLANETARY_COMPUTER: ("planetary_computer", "sign", "planetary-computer"),
}


def scheme_signer(scheme: str) -> Signer:
    """The signer of a named signing scheme, importing its package on first use.

    Args:
        scheme: A name of :data:`SIGNING_SCHEMES` (e.g. ``"planetary_computer"``).

    Raises:
        ConfigError: The scheme is unknown.
        ImportError: The scheme's package is not installed (its ``name`` is the module; the
            message names the pip package). Callers turn it into their own error naming the
            extra to install.
    """
    try:
        module_name, attr, package = _SCHEMES[scheme]
    except KeyError:
        raise ConfigError(
            f"unknown URL signing scheme {scheme!r} (known: {', '.join(SIGNING_SCHEMES)})"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ImportError(
            f"URL signing scheme {scheme!r} needs the {package!r} package", name=module_name
        ) from None
    signer: Signer = getattr(module, attr)
    return signer


def _signer_name(sign: Signer) -> str:
    module = getattr(sign, "__module__", None)
    name = getattr(sign, "__qualname__", None) or type(sign).__name__
    return f"{module}.{name}" if module else name


class SigningReader:
    """A range reader that signs every URL before delegating to the reader it wraps.

    Build it with :func:`signing_reader`, which keeps the wrapped reader's identity support
    (:class:`IdentifiedSigningReader`). The signer runs in a worker thread (the first call for
    a container may fetch a token over the network; the shared event loop never blocks on it).
    Pickles when its reader and signer do (a module-level function pickles by name).

    Args:
        reader: The reader that fetches the signed URLs.
        sign: ``url -> signed url``.
    """

    __slots__ = ("reader", "sign")

    reader: RangeReader
    sign: Signer

    def __init__(self, reader: RangeReader, sign: Signer) -> None:
        self.reader = reader
        self.sign = sign

    async def signed(self, url: str) -> str:
        """``url`` signed (in a worker thread)."""
        return await asyncio.to_thread(self.sign, url)

    async def get_ranges(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> Sequence[Buffer]:
        """Fetch ``[starts[i], ends[i])`` of ``url``, requested with its signed URL."""
        return await self.reader.get_ranges(await self.signed(url), starts, ends)

    def __getstate__(self) -> dict[str, Any]:
        return {"reader": self.reader, "sign": self.sign}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.reader = state["reader"]
        self.sign = state["sign"]

    def __repr__(self) -> str:
        # the wrapped reader's repr redacts its own secrets; the signer is named, never called
        return f"{type(self).__name__}({self.reader!r}, sign={_signer_name(self.sign)})"


class IdentifiedSigningReader(SigningReader):
    """A :class:`SigningReader` over an :class:`IdentifiedRangeReader`: ranged reads with the
    object's identity and HEADs are signed too, so the staleness checks keep working."""

    __slots__ = ()

    reader: IdentifiedRangeReader

    async def get_range_identified(self, url: str, start: int, end: int) -> RangeBody:
        """Fetch ``[start, end)`` of ``url`` (signed) with the response's identity."""
        return await self.reader.get_range_identified(await self.signed(url), start, end)

    async def identify(self, url: str) -> ObjectIdentity:
        """The current identity of ``url`` (one HEAD of its signed URL)."""
        return await self.reader.identify(await self.signed(url))


def signing_reader(backend: Backend | None, sign: Signer) -> SigningReader:
    """``backend`` (None: the process-wide anonymous backend) with every URL signed by
    ``sign`` at request time.

    The result is an :class:`IdentifiedSigningReader` when the backend reports object
    identities (every rasteret_io backend does), else a :class:`SigningReader`.

    Raises:
        ConfigError: ``backend`` can fetch no ranges.
    """
    reader = as_range_reader(backend)
    if isinstance(reader, IdentifiedRangeReader):
        return IdentifiedSigningReader(reader, sign)
    return SigningReader(reader, sign)
