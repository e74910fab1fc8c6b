"""An in-process Kubernetes API emulator for tests (kmock 0.8 extended): see emulator.py.

    import sys; sys.path.insert(0, "<repo>/tests")
    from k8s_emulator import EmulatorThread
    with EmulatorThread() as emu:
        emu.client.apply_file(Path("crds/dialogmodel.yaml"))
        emu.write_kubeconfig(tmp_path / "kubeconfig")   # for kopf, kubectl, helm template | kubectl apply
        ... emu.emulator.requests_log ...               # every request: verb, group, resource, subresource, namespace
"""

from .emulator import ApiError, KubeEmulator, RecordedRequest, ResourceType
from .runner import ApiFailure, Client, EmulatorThread, api_path

__all__ = ["ApiError", "ApiFailure", "Client", "EmulatorThread", "KubeEmulator", "RecordedRequest",
           "ResourceType", "api_path"]
