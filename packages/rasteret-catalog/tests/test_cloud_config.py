"""``CloudConfig`` is an immutable value: built as in 0.4.1, equal and hashed by value."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from rasteret_catalog import CloudConfig, FrozenMap, backend_config_from_cloud_config


def test_built_as_in_0_4_1_and_compared_by_value() -> None:
    a = CloudConfig(provider="aws", requester_pays=True, url_patterns={"https://x/": "s3://b/"})
    b = CloudConfig("aws", True, "us-west-2", {"https://x/": "s3://b/"})
    assert a == b and hash(a) == hash(b)
    assert a.url_patterns == {"https://x/": "s3://b/"}  # still compares equal to the dict
    assert dict(a.url_patterns) == {"https://x/": "s3://b/"}
    assert isinstance(a.url_patterns, FrozenMap)
    assert {a: 1}[b] == 1
    assert CloudConfig(provider="aws") != a
    assert CloudConfig(provider="aws").url_patterns == {}


def test_is_immutable_and_does_not_alias_the_callers_dict() -> None:
    patterns = {"https://x/": "s3://b/"}
    cfg = CloudConfig(provider="aws", url_patterns=patterns)
    patterns["https://y/"] = "s3://c/"
    assert dict(cfg.url_patterns) == {"https://x/": "s3://b/"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.region = "eu-west-1"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.url_patterns["https://z/"] = "s3://d/"  # type: ignore[index]


def test_pickles_and_translates_to_backend_options() -> None:
    cfg = CloudConfig(provider="aws", requester_pays=True, url_patterns={"https://x/": "s3://b/"})
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert dataclasses.replace(cfg, region="eu-west-1").region == "eu-west-1"
    opts = backend_config_from_cloud_config(cfg)
    assert opts["url_patterns"] == {"https://x/": "s3://b/"}
    assert opts["s3_overrides"] == {"b": {"region": "us-west-2", "request_payer": "true"}}
