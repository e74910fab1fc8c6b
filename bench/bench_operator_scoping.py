"""What server-side label selectors on the operator's watches save, in a cluster full of other things.

    python bench/bench_operator_scoping.py [--unrelated 5000] [--churn 50] [--seconds 20] [--write-docs]

The API emulator (tests/k8s_emulator) holds `--unrelated` objects that are not the operator's (half
Pods, half ConfigMaps), plus one DialogModel. The real `rejoinder operator` runs as a subprocess twice in the
same run: as shipped (kopf's `settings.watching.label_selectors` put
`app.kubernetes.io/managed-by=rejoinder-operator` on its child lists and watches), and with those
selectors removed (what kopf does by default: list and watch every Pod and ConfigMap, filter in
the client). For each: CPU time and wall time from start until the DialogModel's training Job
exists, memory (RSS) then, and CPU use while `--churn` unrelated Pods per second are updated.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_operator import API, cpu_seconds, dialog_model, free_port, rss_mib, wait  # noqa: E402
from benchdocs import DOCS, replace_section  # noqa: E402
from k8s_emulator import EmulatorThread  # noqa: E402

NS = "busy"
SYNC_TIMEOUT = 240.0
# The unscoped operator: the shipped one with its child selectors taken away, nothing else changed.
UNSCOPED = ("import sys; import rejoinder.operator.handlers as h; h.LABEL_SELECTED = (); "
            "from rejoinder.cli import main; sys.exit(main(sys.argv[1:]))")


def unrelated_pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"web-{i:05d}", "namespace": NS,
                         "labels": {"app": "web", "pod-template-hash": f"{i % 97:05d}"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                                     "env": [{"name": f"VAR_{k}", "value": "x" * 40} for k in range(8)]}]}}


def unrelated_config_map(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"settings-{i:05d}", "namespace": NS, "labels": {"app": "web"}},
            "data": {"settings.yaml": "key: value\n" * 40}}


def fill(emu: EmulatorThread, pods: int) -> float:
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: emu.client.create(unrelated_pod(i), "pods"), range(pods)))
        list(pool.map(lambda i: emu.client.create(unrelated_config_map(i), "configmaps"), range(pods)))
    return time.perf_counter() - t0


def run_operator(emu: EmulatorThread, workdir: Path, scoped: bool, model: str, churn: int, seconds: float,
                 unrelated: int) -> dict[str, float]:
    kubeconfig = emu.write_kubeconfig(workdir / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "REJOINDER_HEALTH_PORT": str(free_port()),
           "REJOINDER_METRICS_PORT": str(free_port())}
    command = [sys.executable, "-m", "rejoinder"] if scoped else [sys.executable, "-c", UNSCOPED]
    log = open(workdir / f"operator-{'scoped' if scoped else 'unscoped'}.log", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([*command, "--log-level", "WARNING", "operator"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        emu.client.create(dialog_model(model, "bench-dm"), "dialogmodels")
        synced = wait(lambda: emu.client.list("batch/v1", "jobs", "bench-dm", f"rejoinder.dev/model={model}"),
                      SYNC_TIMEOUT, poll=0.1)
        startup_wall = time.perf_counter() - t0  # = SYNC_TIMEOUT when it never got there
        if synced is None:
            print(f"the operator created no Job for {model} within {SYNC_TIMEOUT}s: see {log.name}", file=sys.stderr)
        startup_cpu = cpu_seconds(proc.pid)
        time.sleep(2)  # let the initial lists settle
        rss = rss_mib(proc.pid)
        cpu0, t1, i = cpu_seconds(proc.pid), time.perf_counter(), 0
        while time.perf_counter() - t1 < seconds:  # other workloads' pods change status all the time
            for _ in range(churn):
                emu.client.patch("v1", "pods", NS, f"web-{i % (unrelated // 2):05d}", {"metadata": {"annotations": {"tick": str(i)}}})
                i += 1
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t1) % 1.0))
        churn_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - t1)
        return {"startup_wall_s": startup_wall, "startup_cpu_s": startup_cpu, "rss_mib": rss, "churn_cpu": churn_cpu,
                "updates": i, "synced": synced is not None}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def report(unrelated: int, churn: int, seconds: float, fill_s: float, scoped: dict[str, float],
           unscoped: dict[str, float]) -> str:
    def row(label: str, key: str, fmt: str) -> str:
        a, b = unscoped[key], scoped[key]
        ratio = f"{a / b:.1f}×" if b else ""
        cells = [fmt.format(a), fmt.format(b)]
        if key == "startup_wall_s":  # a run that never got there: a lower bound
            cells = [c if run["synced"] else f"> {SYNC_TIMEOUT:.0f} s (not reached)" for c, run in zip(cells, (unscoped, scoped))]
            ratio = f"> {ratio}" if not unscoped["synced"] else ratio
        return f"| {label} | {cells[0]} | {cells[1]} | {ratio} |"

    return f"""## Operator in a busy cluster (scoped watches)

`python bench/bench_operator_scoping.py --unrelated {unrelated} --churn {churn} --seconds {seconds:g}` — the API emulator holds
{unrelated // 2:,} Pods and {unrelated // 2:,} ConfigMaps that are not the operator's (filled in {fill_s:.0f} s) and one DialogModel; the real
`rejoinder operator` runs twice in the same run, as shipped (server-side `labelSelector`
`app.kubernetes.io/managed-by=rejoinder-operator` on its child lists and watches, via kopf's
`settings.watching.label_selectors`) and with those selectors removed (kopf's default: every Pod
and ConfigMap is listed, watched and filtered in the client). {platform.machine()}, {os.cpu_count()} cores
shared with the emulator and other work (1-minute load average {os.getloadavg()[0]:.1f} at the end).

| measurement | unscoped (before) | scoped (after) | ratio |
|---|---:|---:|---:|
{row("start → the DialogModel's training Job (wall)", "startup_wall_s", "{:.1f} s")}
{row("operator CPU until then", "startup_cpu_s", "{:.2f} s")}
{row("operator memory (RSS) after the initial lists", "rss_mib", "{:.0f} MiB")}
{row(f"operator CPU while unrelated Pods change ({seconds:g} s)", "churn_cpu", "{:.1%}")}
| unrelated Pod updates made in those {seconds:g} s (asked: {churn}/s) | {unscoped['updates']} | {scoped['updates']} | |

The update rate reached depends on how fast the emulator answers while it also streams to the
operator, so the two runs did not see the same churn: compare CPU per update as well.

Scoped, the apiserver sends the operator only its own children: memory and CPU no longer grow with
what else runs in the cluster.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unrelated", type=int, default=5000)
    parser.add_argument("--churn", type=int, default=50, help="unrelated Pod updates per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--write-docs", action="store_true", help="replace this section of docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scoping-") as tmp, EmulatorThread() as emu:
        emu.client.apply_file(REPO / "crds" / "dialogmodel.yaml")
        fill_s = fill(emu, args.unrelated // 2)
        print(f"filled {args.unrelated} Pods and ConfigMaps in {fill_s:.1f}s", file=sys.stderr)
        unscoped = run_operator(emu, Path(tmp), False, "before", args.churn, args.seconds, args.unrelated)
        print(f"unscoped: {unscoped}", file=sys.stderr)
        scoped = run_operator(emu, Path(tmp), True, "after", args.churn, args.seconds, args.unrelated)
        print(f"scoped: {scoped}", file=sys.stderr)
    section = report(args.unrelated, args.churn, args.seconds, fill_s, scoped, unscoped)
    print(section)
    if args.write_docs:
        replace_section(DOCS, "## Operator in a busy cluster (scoped watches)", section.split("\n", 1)[1].lstrip("\n"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
