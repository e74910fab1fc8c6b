"""The command line of each control-plane component, as envtest and kubeadm run them, cut down to
one machine: everything listens on 127.0.0.1 only, no cloud provider, no node-lifecycle controller
(kwok's nodes are never tainted or evicted)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .certs import KeyPair

# What kube-controller-manager runs: the controllers that the operator's children and the tests
# depend on (names from cmd/kube-controller-manager/names/controller_names.go).
CONTROLLERS = (
    "namespace-controller", "serviceaccount-controller", "serviceaccount-token-controller",
    "garbage-collector-controller", "deployment-controller", "replicaset-controller", "job-controller",
    "ttl-after-finished-controller", "horizontal-pod-autoscaler-controller", "disruption-controller",
    "endpointslice-controller", "pod-garbage-collector-controller", "root-ca-certificate-publisher-controller",
    # admin/edit/view aggregate the rules of ClusterRoles labelled aggregate-to-*, as on any cluster
    "clusterrole-aggregation-controller",
    # a DialogModel's pods mount a ReadWriteMany PVC: the binder binds it to the test's PV (the
    # scheduler places no pod with an unbound claim), the protection controllers lift the
    # finalizers that the StorageObjectInUseProtection admission puts on claims and volumes
    "persistentvolume-binder-controller", "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
)
# Admission beyond the defaults: NodeRestriction goes with the Node authorizer, and
# OwnerReferencesPermissionEnforcement is on in OpenShift and hardened clusters (a child with
# blockOwnerDeletion needs `update` on its owner's finalizers).
EXTRA_ADMISSION = ("NodeRestriction", "OwnerReferencesPermissionEnforcement")
# TaintNodesByCondition gives every new Node the not-ready:NoSchedule taint, which only the
# node-lifecycle controller (left out above) removes once the node is Ready: without it no pod
# would ever be scheduled on kwok's nodes.
DISABLED_ADMISSION = ("TaintNodesByCondition",)
UNCACHED = "podtemplates"  # served from etcd, not the watch cache (see apiserver())
SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.0/16"


@dataclass(frozen=True)
class AuditFiles:
    policy: Path
    log: Path


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


def etcd(bin_dir: Path, data: Path, ports: Ports) -> list[str]:
    client, peer = f"http://127.0.0.1:{ports.etcd_client}", f"http://127.0.0.1:{ports.etcd_peer}"
    return [str(bin_dir / "etcd"), "--name=test", f"--data-dir={data}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            "--unsafe-no-fsync",  # a test cluster's data does not need to survive a power cut
            "--log-level=warn"]


def apiserver(bin_dir: Path, ports: Ports, ca: Path, serving: KeyPair, sa: KeyPair,
              kubelet_client: KeyPair, audit: "AuditFiles") -> list[str]:
    return [str(bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            f"--secure-port={ports.apiserver}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",  # without a default route it cannot pick one
            # the `kubernetes` Service's Endpoints may not hold a loopback address (the reconciler
            # would log that every 10 s); nothing runs in a pod here to use them
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={','.join(EXTRA_ADMISSION)}",
            f"--disable-admission-plugins={','.join(DISABLED_ADMISSION)}",
            # kubeadm's front-proxy settings; without a requestheader CA kube-controller-manager
            # and kube-scheduler log an error every few seconds (no front proxy cert is issued)
            f"--requestheader-client-ca-file={ca}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--service-account-issuer=https://127.0.0.1:{ports.apiserver}",
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            # pods/log, exec and port-forward go to kwok's kubelet API, checked against our CA
            f"--kubelet-client-certificate={kubelet_client.cert}", f"--kubelet-client-key={kubelet_client.key}",
            f"--kubelet-certificate-authority={ca}", "--kubelet-preferred-address-types=InternalIP",
            # what ServiceAccounts outside kube-system asked and what they were answered (audit.py)
            f"--audit-policy-file={audit.policy}", f"--audit-log-path={audit.log}", "--audit-log-format=json",
            "--audit-log-mode=blocking",  # written before the answer: a test reads it right after
            # PodTemplates (which nothing here uses) are watched and listed straight from etcd, so
            # that a test compacting etcd sees what clients see after compaction: 410 Gone for a
            # watch or a list continuation from before it (the watch cache would hide it)
            f"--watch-cache-sizes={UNCACHED}#0",
            "--profiling=false"]


def _delegating(kubeconfig: Path, port: int, serving: KeyPair) -> list[str]:
    """Flags kube-controller-manager and kube-scheduler share: their own identity, and /healthz
    served on a free port with a certificate from our CA."""
    return [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false",
            f"--secure-port={port}", "--bind-address=127.0.0.1",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}"]


def controller_manager(bin_dir: Path, kubeconfig: Path, ports: Ports, ca: Path, sa: KeyPair,
                       serving: KeyPair) -> list[str]:
    return [str(bin_dir / "kube-controller-manager"), *_delegating(kubeconfig, ports.controller_manager, serving),
            f"--controllers={','.join(CONTROLLERS)}",
            # each controller acts as its own ServiceAccount, so bootstrap RBAC is exercised as on a cluster
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={sa.key}", f"--root-ca-file={ca}",
            f"--cluster-cidr={POD_CIDR}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false"]


def scheduler(bin_dir: Path, kubeconfig: Path, ports: Ports, serving: KeyPair) -> list[str]:
    return [str(bin_dir / "kube-scheduler"), *_delegating(kubeconfig, ports.scheduler, serving), "--profiling=false"]


def kwok(bin_dir: Path, kubeconfig: Path, ports: Ports, serving: KeyPair) -> list[str]:
    """kwok plays the kubelet of every node; its stages (kwok.py) are Stage objects in the cluster,
    so that a test can add its own, and pod logs come from ClusterLogs objects."""
    # only the nodes made for it (nodes.py annotates them), so that a real kubelet can join too
    return [str(bin_dir / "kwok"), f"--kubeconfig={kubeconfig}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--enable-crds=Stage,ClusterLogs",
            "--node-ip=127.0.0.1", f"--node-port={ports.kwok}", f"--server-address=127.0.0.1:{ports.kwok}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--cidr={POD_CIDR}"]
