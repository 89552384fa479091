"""Envoy version profiles: one object per release, consulted where releases differ."""

from __future__ import annotations

import pickle

import pytest

from hashlb import Cluster, ConfigError, Host
from hashlb.versions import NEWEST, OLDEST, EnvoyProfile, profile

from ._impl import Implementation


def test_profiles_follow_the_spec_table() -> None:
    """Each behaviour switches at its release; 'main' has them all; patch = minor."""
    assert OLDEST == (1, 17) and NEWEST == (1, 38)
    flags = {
        "header_all_values": "1.18",
        "weighted_cluster_header_name": "1.22",
        "weighted_priority_health": "1.27",
        "maglev_sorted_fill": "1.27",
        "draining_excluded": "1.29",
        "weighted_cluster_use_hash_policy": "1.36",
    }
    for flag, since in flags.items():
        minor = int(since.split(".")[1])
        assert getattr(profile(f"1.{minor - 1}"), flag) is False, flag
        assert getattr(profile(since), flag) is True, flag
        assert getattr(profile(f"v{since}.4"), flag) is True, flag
    assert profile("1.38").health_aware_weighted_clusters is False
    main = profile()
    assert main.version == "main" and all(
        getattr(main, f) for f in (*flags, "health_aware_weighted_clusters")
    )
    assert profile("1.27.3").version == "1.27" and profile("1.27") is profile("1.27.3")
    assert pickle.loads(pickle.dumps(main)) == main


def test_bad_versions_and_replace() -> None:
    """Unmodelled or malformed versions raise; replace() models a custom build."""
    for bad, match in (("1.16", "not modelled"), ("1.39", "not modelled"), ("2.0", "like '1.36'")):
        with pytest.raises(ConfigError, match=match):
            profile(bad)
    with pytest.raises(TypeError, match="must be a str or an EnvoyProfile, not float"):
        profile(1.36)  # type: ignore[arg-type]
    custom = profile("1.30").replace(draining_excluded=False)
    assert isinstance(custom, EnvoyProfile) and not custom.draining_excluded
    assert profile(custom) is custom
    with pytest.raises(ConfigError, match="no behaviour 'colour'"):
        profile().replace(colour=True)
    with pytest.raises(TypeError, match="must be a bool, not int"):
        profile().replace(draining_excluded=1)  # type: ignore[arg-type]


def test_draining_before_and_after_envoy_excluded_it(impl: Implementation) -> None:
    """1.29 on: DRAINING hosts leave the counts; before: unhealthy and counted (spec-2 §14.2)."""
    hosts = [Host("10.0.0.1:80"), Host("10.0.0.2:80", health="draining")]
    hosts += [Host("10.0.1.1:80", priority=1)]
    new = Cluster(hosts, balancer=impl.Maglev, table_size=7)
    old = Cluster(hosts, balancer=impl.Maglev, table_size=7, envoy_version="1.28")
    assert new.priority_load == ((100, 0), (0, 0))  # 1 healthy of 1 counted
    assert old.priority_load == ((70, 30), (0, 0))  # 1 healthy of 2
    assert new.priorities[0].excluded == (hosts[1],) and old.priorities[0].excluded == ()
    guard_off = profile("1.30").replace(draining_excluded=False)
    assert Cluster(
        hosts, balancer=impl.Maglev, table_size=7, envoy_version=guard_off
    ).priority_load == (old.priority_load)
    with pytest.raises(ConfigError, match=r"weighted_priority_health needs Envoy 1\.27"):
        Cluster(hosts, weighted_priority_health=True, envoy_version="1.26")
    assert pickle.loads(pickle.dumps(old)).priority_load == old.priority_load
