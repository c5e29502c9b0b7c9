"""Argument checks and record filters shared by collections, reads and builds.

- :mod:`.validate`: dates and boxes (stdlib only);
- :mod:`.geometry`: bounding boxes of every accepted geometry input;
- :mod:`.filters`: :class:`~rasteret.query.filters.Subset`, the validated ``subset`` criteria,
  and their ``pyarrow.dataset`` expressions;
- :mod:`.dnf`: the same criteria in disjunctive normal form, and the row-group statistics test
  streaming scans prune with.
"""
