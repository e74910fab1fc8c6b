"""The API emulator (tests/k8s_emulator) measured against the real apiserver: the same request
sequences sent to both, their answers reduced to what clients depend on, and compared
(tests/realcluster/test_realcluster_emulator_parity.py)."""
