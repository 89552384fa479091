"""Envoy version profiles: the documented differences between Envoy releases that change a pick.

One :class:`EnvoyProfile` per release (from Envoy's version history, the
``changelogs/`` of its repository, and the pull requests below), consulted
where a behaviour differs; nothing else in hashlb tests a version number.
``"main"`` (the default everywhere) is the newest behaviour, as read from
Envoy's main branch.

=========================================  ==========  =====================================
behaviour                                  since       evidence
=========================================  ==========  =====================================
a header hash uses every value (sorted,    1.18        version history 1.18.0, PR #15486
seed-chained); before, the first only
``WeightedCluster.header_name``            1.22        version history 1.22.0, PR #19547
``weighted_priority_health``               1.27        PR #27883 (release assumed)
Maglev fills from hosts sorted by key      1.27        changelogs/1.27.0.yaml, PR #28055
EDS ``DRAINING`` excluded and unhealthy;   1.29        PR #30622 (release assumed: the first
before, unhealthy and counted                          after it merged, late 2023)
``WeightedCluster.use_hash_policy``        1.36        changelogs/1.36.0.yaml, PR #41244
health- and retry-aware weighted clusters  main        Envoy's main branch after 1.38.0
=========================================  ==========  =====================================

Releases before 1.17 are not modelled.  Where the release is *assumed* (the
table says so: the first release after the pull request merged), pass the profile's fields explicitly
(:meth:`EnvoyProfile.replace`) to model a build that differs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cache

from ._validate import short
from .errors import ConfigError

__all__ = ("NEWEST", "OLDEST", "EnvoyProfile", "profile")

#: The oldest release modelled, and the newest numbered one (``"main"`` is newer).
OLDEST = (1, 17)
NEWEST = (1, 38)

_MAIN = (1, 10**6)
_VERSION = re.compile(r"v?1\.(\d{1,3})(?:\.\d{1,3})?\Z")


@dataclass(frozen=True)
class EnvoyProfile:
    """What one Envoy release does where releases differ (see the module table)."""

    #: The release, ``"1.36"`` or ``"main"``.
    version: str
    #: A header hash uses every value of the header (else the first one only).
    header_all_values: bool
    #: ``WeightedCluster.header_name`` picks a cluster from a request header.
    weighted_cluster_header_name: bool
    #: The EDS ``weighted_priority_health`` option exists.
    weighted_priority_health: bool
    #: Maglev fills its table from hosts sorted by hash key (else in host order).
    maglev_sorted_fill: bool
    #: An EDS ``DRAINING`` host is excluded (else unhealthy and counted).
    draining_excluded: bool
    #: ``WeightedCluster.use_hash_policy`` picks a cluster by the route hash.
    weighted_cluster_use_hash_policy: bool
    #: Weighted clusters skip unhealthy clusters and, on a retry, attempted ones.
    health_aware_weighted_clusters: bool

    def replace(self, **changes: bool) -> EnvoyProfile:
        """Return a copy with some behaviours changed (a custom build, a runtime guard)."""
        for name, value in changes.items():
            if name == "version" or name not in _FLAGS:
                raise ConfigError(f"EnvoyProfile has no behaviour {short(name)}")
            if not isinstance(value, bool):
                raise TypeError(f"EnvoyProfile.{name} must be a bool, not {type(value).__name__}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


_FLAGS = frozenset(f.name for f in dataclasses.fields(EnvoyProfile)) - {"version"}


def _parse(version: str) -> tuple[int, int]:
    if version == "main":
        return _MAIN
    m = _VERSION.match(version)
    if m is None:
        raise ConfigError(f"envoy_version must be like '1.36' or 'main', got {short(version)}")
    minor = int(m.group(1))
    if not OLDEST[1] <= minor <= NEWEST[1]:
        raise ConfigError(
            f"envoy_version {short(version)} is not modelled: give 1.{OLDEST[1]} "
            f"to 1.{NEWEST[1]}, or 'main'"
        )
    return (1, minor)


@cache
def _profile(v: tuple[int, int]) -> EnvoyProfile:
    name = "main" if v == _MAIN else f"1.{v[1]}"
    return EnvoyProfile(
        version=name,
        header_all_values=v >= (1, 18),
        weighted_cluster_header_name=v >= (1, 22),
        weighted_priority_health=v >= (1, 27),
        maglev_sorted_fill=v >= (1, 27),
        draining_excluded=v >= (1, 29),
        weighted_cluster_use_hash_policy=v >= (1, 36),
        health_aware_weighted_clusters=v == _MAIN,
    )


def profile(envoy_version: str | EnvoyProfile = "main") -> EnvoyProfile:
    """Return the profile of *envoy_version* (``"1.36"``, ``"v1.27.2"``, ``"main"``).

    A patch release behaves as its minor release.  An :class:`EnvoyProfile`
    is returned as it is.

    >>> profile("1.26").maglev_sorted_fill, profile("1.27.1").maglev_sorted_fill
    (False, True)
    >>> profile().version
    'main'
    """
    if isinstance(envoy_version, EnvoyProfile):
        return envoy_version
    if not isinstance(envoy_version, str):
        raise TypeError(
            f"envoy_version must be a str or an EnvoyProfile, not {type(envoy_version).__name__}"
        )
    return _profile(_parse(str(envoy_version)))
