"""The local registry file: persistence, atomic writes, corrupt files, nothing lost."""

from __future__ import annotations

import json
import os

import pytest

from rasteret_catalog import (
    DatasetDescriptor,
    DatasetRegistry,
    DuplicateDatasetError,
    LocalRegistryError,
    UnknownDatasetError,
    default_registry_path,
    export_local_descriptor,
    load_local_descriptors,
    remove_local_descriptor,
    save_local_descriptor,
    unregister_local_descriptor,
)


def _d(i="me/a", **kw):
    return DatasetDescriptor(id=i, name=kw.pop("name", i.upper()), **kw)


def test_env_var_and_default_path(isolated_registry, monkeypatch, tmp_path):
    assert default_registry_path() == isolated_registry
    monkeypatch.delenv("RASTERET_LOCAL_DATASETS_PATH")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_registry_path() == tmp_path / ".rasteret" / "datasets.local.json"


def test_save_load_round_trip_sorted_and_formatted(isolated_registry):
    save_local_descriptor(_d("me/z", temporal_range=("2020-01-01", "2020-12-31")))
    save_local_descriptor(_d("me/a"))
    save_local_descriptor(_d("me/a", name="Updated"))  # upsert
    text = isolated_registry.read_text()
    assert text.endswith("\n")
    raw = json.loads(text)
    assert [e["id"] for e in raw] == ["me/a", "me/z"]
    assert raw[1]["temporal_range"] == ["2020-01-01", "2020-12-31"]
    loaded = load_local_descriptors()
    assert [d.name for d in loaded] == ["Updated", "ME/Z"]
    assert loaded[1].temporal_range == ("2020-01-01", "2020-12-31")
    assert not [p for p in isolated_registry.parent.iterdir() if p.name.endswith(".tmp")]


def test_registry_autoloads_local_after_builtins(isolated_registry):
    save_local_descriptor(_d("me/a"))
    save_local_descriptor(_d("earthsearch/naip", name="Shadow"))
    DatasetRegistry.reset()
    with pytest.warns(UserWarning, match="reuses a built-in id"):
        ids = DatasetRegistry.ids()
    assert ids[-1] == "me/a" and DatasetRegistry.is_local("me/a")
    assert DatasetRegistry.get("earthsearch/naip").name == "NAIP"


def test_corrupt_file_is_reported_and_never_overwritten(isolated_registry):
    isolated_registry.parent.mkdir(parents=True)
    isolated_registry.write_text('[{"id": "me/a", "name": "A"},')  # truncated JSON
    before = isolated_registry.read_bytes()
    with pytest.raises(LocalRegistryError, match=str(isolated_registry)) as ei:
        save_local_descriptor(_d("me/b"))
    assert "not valid JSON" in str(ei.value) and "will not overwrite" in str(ei.value)
    with pytest.raises(LocalRegistryError):
        remove_local_descriptor("me/a")
    with pytest.raises(LocalRegistryError):
        load_local_descriptors()
    assert isolated_registry.read_bytes() == before
    DatasetRegistry.reset()
    with pytest.warns(UserWarning, match="not valid JSON"):
        assert "me/a" not in DatasetRegistry.ids()
    assert isolated_registry.read_bytes() == before


@pytest.mark.parametrize("content", ['{"id": "x"}', "[1, 2]", '"text"'])
def test_wrong_shapes_are_corrupt(isolated_registry, content):
    isolated_registry.parent.mkdir(parents=True)
    isolated_registry.write_text(content)
    with pytest.raises(LocalRegistryError, match="JSON list"):
        save_local_descriptor(_d())
    assert isolated_registry.read_text() == content


def test_unreadable_file(isolated_registry):
    isolated_registry.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(LocalRegistryError, match="cannot read"):
        load_local_descriptors()


def test_duplicate_ids_in_file(isolated_registry):
    isolated_registry.parent.mkdir(parents=True)
    isolated_registry.write_text(
        json.dumps([{"id": "me/a", "name": "A"}, {"id": "me/a", "name": "B"}])
    )
    with pytest.raises(DuplicateDatasetError, match="twice"):
        load_local_descriptors()
    with pytest.raises(DuplicateDatasetError):
        save_local_descriptor(_d("me/c"))


def test_uninterpretable_entries_are_skipped_but_kept(isolated_registry):
    isolated_registry.parent.mkdir(parents=True)
    future = {"id": "me/future", "name": "F", "new_field_from_v2": True}
    invalid = {"id": "me/bad", "name": "B", "example_bbox": [3, 3, 1, 1]}
    isolated_registry.write_text(json.dumps([future, invalid]))
    with pytest.warns(UserWarning, match="skipping entry") as rec:
        assert load_local_descriptors() == []
    assert len(rec) == 2 and str(isolated_registry) in str(rec[0].message)
    save_local_descriptor(_d("me/new"))
    raw = json.loads(isolated_registry.read_text())
    assert (
        future in raw
        and invalid in raw
        and {e["id"] for e in raw} == {"me/future", "me/bad", "me/new"}
    )


def test_failed_write_leaves_old_file(isolated_registry, monkeypatch):
    save_local_descriptor(_d("me/a"))
    before = isolated_registry.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_local_descriptor(_d("me/b"))
    assert isolated_registry.read_bytes() == before
    assert not [p for p in isolated_registry.parent.iterdir() if p.name.endswith(".tmp")]


def test_unregister_and_export(isolated_registry, tmp_path):
    save_local_descriptor(_d("me/a"))
    save_local_descriptor(_d("me/b"))
    DatasetRegistry.reset()
    assert DatasetRegistry.get("me/a") is not None
    out = export_local_descriptor("me/b", tmp_path / "out.json")
    assert json.loads(out.read_text())["id"] == "me/b"  # one descriptor object, as 0.4.1
    with pytest.raises(UnknownDatasetError):
        export_local_descriptor("me/nope", tmp_path / "x.json")
    removed = unregister_local_descriptor("me/a")
    assert removed is not None and removed.id == "me/a"
    assert DatasetRegistry.get("me/a") is None
    assert [e["id"] for e in json.loads(isolated_registry.read_text())] == ["me/b"]
    assert unregister_local_descriptor("me/a") is None
    assert remove_local_descriptor("me/zzz") is False


def test_register_local_in_memory_is_unregistered_and_exported(isolated_registry, tmp_path):
    """A local dataset registered only in this process (never persisted) is still local."""
    d = _d("me/mem", collection_uri=str(tmp_path / "c"), spatial_coverage="local")
    DatasetRegistry.register(d, local=True)
    assert DatasetRegistry.is_local("me/mem") and not isolated_registry.exists()
    out = export_local_descriptor("me/mem", tmp_path / "sub" / "mem.json")
    payload = json.loads(out.read_text())
    assert payload == d.to_dict()
    assert DatasetDescriptor.from_dict(payload) == d
    removed = unregister_local_descriptor("me/mem")
    assert removed == d and DatasetRegistry.get("me/mem") is None
    assert unregister_local_descriptor("me/mem") is None
    with pytest.raises(UnknownDatasetError, match="me/mem"):
        export_local_descriptor("me/mem", tmp_path / "again.json")


def test_unregister_local_never_removes_builtin_or_plain_registrations(isolated_registry):
    DatasetRegistry.register(_d("me/plain"))
    assert unregister_local_descriptor("me/plain") is None
    assert DatasetRegistry.get("me/plain") is not None
    assert unregister_local_descriptor("earthsearch/sentinel-2-l2a") is None
    assert DatasetRegistry.get("earthsearch/sentinel-2-l2a") is not None
    # re-registering a local id as a plain descriptor makes it non-local
    DatasetRegistry.register(_d("me/x"), local=True)
    DatasetRegistry.register(_d("me/x"))
    assert not DatasetRegistry.is_local("me/x")


def test_file_entry_removed_even_when_registered_elsewhere(isolated_registry, tmp_path):
    save_local_descriptor(_d("me/f"), tmp_path / "other.json")
    removed = unregister_local_descriptor("me/f", tmp_path / "other.json")
    assert removed is not None and removed.id == "me/f"
    assert json.loads((tmp_path / "other.json").read_text()) == []
