"""The environment a local Ray needs, set before Ray is imported (Ray reads it once, at import).

By default Ray registers a node under the machine's network address and opens its ports on every
interface, even when asked for 127.0.0.1. With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` set before Ray
starts, the node is 127.0.0.1 and every port listens on loopback only. A sweep on a real cluster
(``--address`` or ``$RAY_ADDRESS``) leaves it unset: its nodes must reach each other.
"""

from __future__ import annotations

import os
from pathlib import Path

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def uses_local_ray(address: str | None) -> bool:
    return not (address or os.environ.get("RAY_ADDRESS"))


def local_ray_environment() -> None:
    """Nodes on loopback only, and workers that import this very ``gan`` package (also for a loopback
    test cluster, whose nodes inherit this process's environment)."""
    os.environ[LOOPBACK_ENV] = "0"
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if package_root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, paths)])
