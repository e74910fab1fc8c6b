"""The CPUs a process may use: affinity capped by its cgroup's CPU quota (a pod's limits.cpu)."""

from __future__ import annotations

import os

import pytest

from rejoinder.cpus import allowed_cpus, cgroup_quota, quota_from_cgroup_v1, quota_from_cgroup_v2


@pytest.mark.parametrize("text, cpus", [("max 100000\n", None), ("200000 100000\n", 2.0), ("150000 100000", 1.5),
                                        ("50000 100000", 0.5), ("", None)])
def test_cgroup_v2_cpu_max(text, cpus):
    assert quota_from_cgroup_v2(text) == cpus


def test_cgroup_v1_quota():
    assert quota_from_cgroup_v1("-1\n", "100000\n") is None
    assert quota_from_cgroup_v1("300000\n", "100000\n") == 3.0


def test_a_quota_caps_the_affinity_rounded_up(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # limits.cpu: 500m
    assert cgroup_quota(tmp_path) == 0.5 and allowed_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{(affinity + 8) * 100000} 100000\n")  # a quota above the cores: the cores
    assert allowed_cpus(tmp_path) == affinity
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert allowed_cpus(tmp_path) == affinity


def test_cgroup_v1_is_read_when_there_is_no_v2_file(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 1.0 and allowed_cpus(tmp_path) == 1


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert cgroup_quota(tmp_path) is None
    assert allowed_cpus(tmp_path) == len(os.sched_getaffinity(0))
