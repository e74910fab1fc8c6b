"""Tests against the real control plane (tests/controlplane): one cluster for the session, a
namespace for each test."""

from tests.controlplane.fixtures import *  # noqa: F401,F403  (fixtures and the failure-report hook)
