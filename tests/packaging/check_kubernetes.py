"""Checks of packaging/kubernetes/ that the Kubernetes schemas cannot make.

kubernetes-validate checks the built-in kinds (Namespace, DaemonSet, Service)
against the Kubernetes schemas; it has no schema for the Prometheus Operator's
custom resources. This checks those (ServiceMonitor, PrometheusRule) field by
field against the shape the operator's CRDs define, and checks that the files
agree with each other: the Service selects the DaemonSet's pods and names its
port, the ServiceMonitor selects the Service and names that port, every host
path the exporter is told about is mounted read-only, and the pod has the
privileges the exporter needs and no others.

usage: python3 check_kubernetes.py DIR   (exit 1 with the problems listed)
"""
import re
import sys
from pathlib import Path

import yaml

problems = []


def need(cond, msg):
    if not cond:
        problems.append(msg)
    return cond


def load(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    need(len(docs) == 1, f"{path.name}: expected one document, found {len(docs)}")
    return docs[0] if docs else {}


def check_keys(obj, allowed, where):
    if need(isinstance(obj, dict), f"{where}: not a mapping"):
        for k in obj:
            need(k in allowed, f"{where}: unknown field {k!r}")


DURATION = re.compile(r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$")


def main(d):
    d = Path(d)
    ds = load(d / "daemonset.yaml")
    svc = load(d / "service.yaml")
    sm = load(d / "servicemonitor.yaml")
    pod = ds["spec"]["template"]["spec"]
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    (ctr,) = pod["containers"]
    sc = ctr["securityContext"]

    # the pod's privileges
    need(pod.get("hostNetwork") is True, "DaemonSet: hostNetwork must be true (the host's IPVS)")
    need(pod.get("hostPID") in (None, False), "DaemonSet: hostPID is not needed")
    need(pod.get("automountServiceAccountToken") is False, "DaemonSet: automountServiceAccountToken must be false")
    need(pod["securityContext"].get("runAsUser") == 0, "DaemonSet: runAsUser 0 (added capabilities are not effective otherwise)")
    need(sc.get("allowPrivilegeEscalation") is False, "container: allowPrivilegeEscalation must be false")
    need(sc.get("readOnlyRootFilesystem") is True, "container: readOnlyRootFilesystem must be true")
    need(sc.get("privileged") in (None, False), "container: must not be privileged")
    need(sc.get("capabilities") == {"drop": ["ALL"], "add": ["NET_ADMIN"]}, f"container: capabilities {sc.get('capabilities')}")
    need({"operator": "Exists"} in pod.get("tolerations", []), "DaemonSet: no toleration for every taint")
    res = ctr.get("resources", {})
    need("requests" in res and "limits" in res, "container: requests and limits")

    # every path flag points into a read-only mount
    mounts = {m["name"]: m for m in ctr["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    for m in mounts.values():
        need(m.get("readOnly") is True, f"mount {m['mountPath']} is not read-only")
        need(m["name"] in vols, f"mount {m['name']} has no volume")
    args = dict(a.lstrip("-").split("=", 1) for a in ctr["args"])
    rootfs = args.get("path.rootfs", "/")
    paths = [args.get("path.procfs"), args.get("path.sysfs")]
    for key in ("keepalived.config-file", "keepalived.pid-file"):
        if key in args:
            paths.append(rootfs.rstrip("/") + args[key])
    mount_paths = [m["mountPath"] for m in mounts.values()]
    for p in paths:
        if need(p is not None, "a --path.procfs or --path.sysfs flag is missing"):
            need(any(p == mp or p.startswith(mp.rstrip("/") + "/") for mp in mount_paths), f"{p} is in no mount")
    host = {vols[m["name"]]["hostPath"]["path"]: m["mountPath"] for m in mounts.values()}
    need(host.get("/proc") == args.get("path.procfs"), "the host's /proc is not what --path.procfs names")
    need(host.get("/sys") == args.get("path.sysfs"), "the host's /sys is not what --path.sysfs names")
    need("/run" not in host and "/" not in host, "the host's /run (runtime sockets) must not be mounted")

    # Service -> pods, ServiceMonitor -> Service
    ports = {p["name"]: p for p in ctr["ports"]}
    need(all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selects no DaemonSet pod")
    (sport,) = svc["spec"]["ports"]
    need(sport["targetPort"] in ports, f"Service targetPort {sport['targetPort']} is no container port")
    need(sport["port"] == ports.get(sport["targetPort"], {}).get("containerPort"), "Service port differs from the container's")
    listen = args.get("web.listen-address", ":9748")
    need(listen.endswith(f":{sport['port']}"), f"the exporter listens on {listen}, the Service says {sport['port']}")

    # ServiceMonitor (monitoring.coreos.com/v1)
    need(sm.get("apiVersion") == "monitoring.coreos.com/v1" and sm.get("kind") == "ServiceMonitor", "ServiceMonitor: apiVersion/kind")
    check_keys(sm, {"apiVersion", "kind", "metadata", "spec"}, "ServiceMonitor")
    spec = sm["spec"]
    check_keys(spec, {"jobLabel", "selector", "namespaceSelector", "endpoints", "targetLabels", "podTargetLabels",
                      "sampleLimit", "targetLimit", "attachMetadata", "scrapeProtocols"}, "ServiceMonitor.spec")
    need(all(svc["metadata"]["labels"].get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
         "ServiceMonitor selects no Service")
    need(svc["metadata"]["namespace"] in spec["namespaceSelector"].get("matchNames", []), "ServiceMonitor: namespaceSelector misses the Service's namespace")
    need(spec.get("jobLabel") is None or spec["jobLabel"] in svc["metadata"]["labels"], "ServiceMonitor: jobLabel is no label of the Service")
    for i, ep in enumerate(spec["endpoints"]):
        where = f"ServiceMonitor.spec.endpoints[{i}]"
        check_keys(ep, {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "tlsConfig",
                        "basicAuth", "authorization", "honorLabels", "honorTimestamps", "relabelings",
                        "metricRelabelings", "params", "followRedirects", "enableHttp2"}, where)
        need(ep.get("port") == sport["name"], f"{where}: port {ep.get('port')} is not the Service's port name")
        for k in ("interval", "scrapeTimeout"):
            if k in ep:
                need(bool(DURATION.match(str(ep[k]))), f"{where}.{k}: {ep[k]!r} is not a duration")
        jobs = [r.get("replacement") for r in ep.get("relabelings", [])
                if r.get("targetLabel") == "job" and not r.get("sourceLabels")]
        job = jobs[-1] if jobs else None
        for j, r in enumerate(ep.get("relabelings", [])):
            check_keys(r, {"action", "sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement"},
                       f"{where}.relabelings[{j}]")
            need(r.get("action", "replace") in ("replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep",
                                                 "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"),
                 f"{where}.relabelings[{j}]: action")

    # PrometheusRule (when alerts/ has produced one)
    pr_path = d / "prometheusrule.yaml"
    if pr_path.exists():
        pr = load(pr_path)
        need(pr.get("apiVersion") == "monitoring.coreos.com/v1" and pr.get("kind") == "PrometheusRule", "PrometheusRule: apiVersion/kind")
        check_keys(pr.get("spec"), {"groups"}, "PrometheusRule.spec")
        groups = pr["spec"]["groups"]
        need(isinstance(groups, list) and groups, "PrometheusRule: no groups")
        names = [g.get("name") for g in groups]
        need(len(names) == len(set(names)), f"PrometheusRule: group names repeat: {names}")
        # the rules select the job the ServiceMonitor gives its targets
        selected = set(re.findall(r'job="([^"]*)"', pr_path.read_text()))
        need(selected, "PrometheusRule: no rule selects a job")
        for s in selected:
            need(s == job, f"PrometheusRule selects job {s!r}, the ServiceMonitor sets {job!r}")
        for g in groups:
            where = f"PrometheusRule group {g.get('name')}"
            check_keys(g, {"name", "interval", "rules", "limit", "partial_response_strategy", "query_offset", "labels"}, where)
            for r in g.get("rules", []):
                check_keys(r, {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}, where)
                need(("alert" in r) != ("record" in r), f"{where}: a rule needs alert or record")
                need(isinstance(r.get("expr"), (str, int)), f"{where}: a rule without expr")
                if "for" in r:
                    need(bool(DURATION.match(str(r["for"]))), f"{where}: for {r['for']!r}")
    else:
        print("no prometheusrule.yaml (alerts/ has no rule file yet)")

    if problems:
        for p in problems:
            print(f"PROBLEM {p}")
        return 1
    print(f"ok: {', '.join(sorted(p.name for p in d.glob('*.yaml')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
