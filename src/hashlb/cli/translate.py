"""``hashlb translate``: the Envoy configuration Istio would generate, as a ``/config_dump``.

Reads the same Istio/Kubernetes YAML as ``hashlb simulate -f``
(:func:`hashlb.istio.load_mesh`) and prints (or writes, with ``-o``) the
document :func:`hashlb.istio.config_dump` builds: clusters, routes and
endpoints as a sidecar's admin ``/config_dump?include_eds`` shows them.  Diff
it against ``istioctl proxy-config all POD -o json``, or feed it to
``hashlb simulate --envoy-config -``.  Bad input is one line naming
``FILE:LINE`` and exit code 2; the output file is written atomically, and
nothing at all on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO

from .output import OutputSet
from .simulate import UNHEALTHY_ENDPOINTS, _load_mesh, mesh_from_args

__all__ = ("DESCRIPTION", "HELP", "add_arguments", "run")

#: The one-line help of ``hashlb translate`` and its longer description.
HELP = "print the Envoy configuration Istio generates for the YAML, as a /config_dump"
DESCRIPTION = (
    "Translate Istio DestinationRules and VirtualServices and Kubernetes Services, "
    "Deployments and Pods (-f) into the Envoy configuration Istio would send a sidecar: "
    "a /config_dump JSON document (clusters, routes, endpoints) to diff against "
    "istioctl proxy-config or to simulate with hashlb simulate --envoy-config."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``translate`` options to *p*."""
    p.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        metavar="PATH",
        help="a YAML file or a directory of them (repeatable; '-' reads stdin)",
    )
    p.add_argument(
        "--endpoints",
        action="append",
        default=[],
        metavar="PATH",
        help="Pods with real IPs, e.g. kubectl get pods -o yaml (repeatable)",
    )
    p.add_argument(
        "--host",
        action="append",
        metavar="HOST",
        help="translate only this VirtualService host (repeatable; default: every host)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        default="default",
        help="namespace of resources that name none (default: default)",
    )
    p.add_argument(
        "--cluster-domain",
        default="cluster.local",
        help="the cluster's DNS domain (default: cluster.local)",
    )
    p.add_argument(
        "--unhealthy-endpoints",
        choices=UNHEALTHY_ENDPOINTS,
        default="auto",
        help="what Istio sends for pods that are not Ready (as for hashlb simulate; default: auto)",
    )
    p.add_argument(
        "--source-locality",
        metavar="REGION[/ZONE[/SUBZONE]]",
        help="the client proxy's locality: the endpoints get Istio's failover priorities and "
        "distribute weights for it, as for hashlb simulate",
    )
    p.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="PATH",
        help="write the JSON to PATH, atomically (default: '-', standard output)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, outputs: OutputSet, out: IO[str] | None = None) -> int:
    """Run ``hashlb translate`` with parsed *args*; raise InputError on bad input."""
    from ..istio.xds import config_dump

    load_mesh = _load_mesh()
    outputs.add(args.output, "--output")
    mesh = mesh_from_args(args, load_mesh)
    for text in mesh.notes:
        print(f"hashlb translate: note: {text}", file=sys.stderr)
    document = config_dump(mesh, hosts=args.host, source_locality=args.source_locality)
    with outputs.open("--output") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    return 0
