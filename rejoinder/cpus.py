"""How many CPUs this process may really use: its affinity mask and its cgroup's CPU quota (a
pod's `resources.limits.cpu`), not the node's core count that `os.cpu_count()` reports. A model
server sized by the node's 64 cores in a 2-CPU pod runs 64-thread pools that the quota throttles.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional

CGROUP_ROOT = Path("/sys/fs/cgroup")


def quota_from_cgroup_v2(cpu_max: str) -> Optional[float]:
    """`cpu.max` ("<quota> <period>" or "max <period>") → CPUs, None when unlimited."""
    fields = cpu_max.split()
    if not fields or fields[0] == "max":
        return None
    period = int(fields[1]) if len(fields) > 1 else 100_000
    return int(fields[0]) / period if period > 0 else None


def quota_from_cgroup_v1(quota_us: str, period_us: str) -> Optional[float]:
    """`cpu.cfs_quota_us` / `cpu.cfs_period_us` → CPUs, None when unlimited (-1)."""
    quota, period = int(quota_us.strip()), int(period_us.strip())
    return quota / period if quota > 0 and period > 0 else None


def cgroup_quota(root: Path = CGROUP_ROOT) -> Optional[float]:
    """The CPU quota of this process's cgroup (v2, then v1), None when there is none or it cannot be read."""
    try:
        return quota_from_cgroup_v2((root / "cpu.max").read_text())
    except (OSError, ValueError, IndexError):
        pass
    try:
        v1 = root / "cpu"
        return quota_from_cgroup_v1((v1 / "cpu.cfs_quota_us").read_text(), (v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None


def allowed_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process can run on at once: its affinity, capped by its cgroup quota (rounded up)."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        affinity = os.cpu_count() or 1
    quota = cgroup_quota(root)
    return max(1, min(affinity, math.ceil(quota)) if quota is not None else affinity)


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_vnni(flags: frozenset[str] | None = None) -> bool:
    """int8 dot products in one instruction (AVX512-VNNI, AVX-VNNI or AMX): where int8 inference pays."""
    return bool(set(VNNI_FLAGS) & (cpu_flags() if flags is None else flags))
