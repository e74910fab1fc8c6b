"""Values files the chart tests render: the defaults, and one that changes every setting."""

from __future__ import annotations

from typing import Any

# Every value differs from values.yaml, so each template branch that the defaults skip runs.
NON_DEFAULT: dict[str, Any] = {
    "fullnameOverride": "dialog-operator",
    "image": {
        "registry": "registry.example.com/ml/",
        "tag": "1.2.3",
        "pullPolicy": "Always",
        "trainer": "registry.example.com/gpu/rejoinder-trainer:1.2.3-cuda12",
    },
    "imagePullSecrets": [{"name": "regcred"}],
    "operator": {
        "watchNamespaces": ["dialog", "research"],
        "prometheusUrl": "http://prometheus-operated.monitoring:9090",
        "logLevel": "DEBUG",
        "resyncSeconds": 30,
        "autoscaleSeconds": 7.5,
        "workloadRunAsUser": 30000,
        "healthPort": 8081,
        "metricsPort": 9191,
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"}],
        "resources": {"requests": {"cpu": "200m", "memory": "300Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
        "podAnnotations": {"example.com/owner": "ml-platform"},
        "podLabels": {"team": "ml"},
        "priorityClassName": "system-cluster-critical",
    },
    "serviceAccount": {
        "create": True,
        "name": "rejoinder-op",
        "annotations": {"iam.gke.io/gcp-service-account": "rejoinder@project.iam.gserviceaccount.com"},
    },
    "securityContext": {"runAsUser": 20000, "runAsGroup": 20001, "fsGroup": 20002},
    "metrics": {"service": True},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "interval": "15s",
                       "scrapeTimeout": "5s"},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "errorRatio": 0.01,
                       "latencyP99Seconds": 0.1, "for": "5m"},
    "grafanaDashboard": {"enabled": True, "labels": {"grafana_dashboard": "1"},
                         "annotations": {"grafana_folder": "ML"}, "namespace": "monitoring"},
    "dialogModelStateMetrics": {"enabled": True, "namespace": "kube-system"},
    "prometheusAdapterRules": {"enabled": True, "namespace": "monitoring"},
    "networkPolicy": {
        "enabled": True,
        "apiServerCidrs": ["10.0.0.1/32"],
        "apiServerPorts": [443],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
    },
}

# Everything optional switched off.
MINIMAL: dict[str, Any] = {
    "serviceAccount": {"create": False, "name": "existing-sa"},
    "rbac": {"create": False},
    "metrics": {"service": False},
    "grafanaDashboard": {"enabled": False},
    "dialogModelStateMetrics": {"enabled": False},
}
