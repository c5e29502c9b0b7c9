"""Optional integrations: TorchGeo (:mod:`.torchgeo`) and Dask (:mod:`.dask`).

Nothing heavy is imported here; each submodule imports its engine (torch / torchgeo, dask)
when it is used and raises an ImportError naming the extra (``rasteret[torchgeo]``,
``rasteret[dask]``) when it is missing.
"""

from __future__ import annotations

__all__: list[str] = []
