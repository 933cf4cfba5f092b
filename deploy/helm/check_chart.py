#!/usr/bin/env python3
"""Checks the rendered manifests of the tessera-coordinator chart.

    check_chart.py RENDERED.yaml [--expect-exec-probe] [--expect-no-network-policy]

RENDERED.yaml is the output of deploy/helm/render (or `helm template`). The
checks are the mistakes a cluster would only report at deploy time, or not
at all: names and labels that do not match between objects, mounts of
volumes that do not exist, a configuration whose paths are not where the
volumes are, a pod that could run as root. Exit status 1 with one line per
problem; 0 when all hold.
"""
import sys
import tomllib

import yaml

problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


def subset(small, large):
    return all(large.get(key) == value for key, value in small.items())


def under(path, directory):
    return path.startswith(directory.rstrip("/") + "/")


def main(argv):
    with open(argv[1]) as stream:
        docs = [doc for doc in yaml.safe_load_all(stream) if doc]
    flags = set(argv[2:])
    by_kind = {}
    for doc in docs:
        check({"apiVersion", "kind", "metadata"} <= doc.keys(), f"incomplete object: {doc}")
        by_kind.setdefault(doc["kind"], []).append(doc)
        check(doc["apiVersion"] in ("v1", "apps/v1", "networking.k8s.io/v1"),
              f"{doc['kind']}: apiVersion {doc['apiVersion']} is not a GA API")
        check("app.kubernetes.io/name" in doc["metadata"].get("labels", {}),
              f"{doc['kind']} {doc['metadata']['name']}: no app.kubernetes.io/name label")

    (statefulset,) = by_kind["StatefulSet"]
    spec = statefulset["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    check(spec["replicas"] == 1, "the coordinator keeps its state in one SQLite file: one replica")
    check(subset(spec["selector"]["matchLabels"], pod_labels),
          "StatefulSet selector does not match its pod labels")

    services = {svc["metadata"]["name"]: svc for svc in by_kind["Service"]}
    headless = services.get(spec["serviceName"])
    check(headless is not None and headless["spec"].get("clusterIP") == "None",
          f"serviceName {spec['serviceName']} is not a headless Service of the chart")

    (container,) = pod["containers"]
    port_names = {port["name"] for port in container["ports"]}
    for svc in services.values():
        check(subset(svc["spec"]["selector"], pod_labels),
              f"Service {svc['metadata']['name']} selects no pod of the StatefulSet")
        for port in svc["spec"]["ports"]:
            check(port["targetPort"] in port_names,
                  f"Service {svc['metadata']['name']}: targetPort {port['targetPort']} is no container port")

    # Security: nothing runs as root or can gain privileges.
    check(pod["securityContext"].get("runAsNonRoot") is True, "pod may run as root")
    check(pod["securityContext"].get("runAsUser", 0) != 0, "pod runs as uid 0")
    check(pod.get("automountServiceAccountToken") is False, "service account token mounted")
    for c in pod["containers"] + pod.get("initContainers", []):
        ctx = c.get("securityContext", {})
        check(ctx.get("allowPrivilegeEscalation") is False, f"{c['name']}: privilege escalation allowed")
        check(ctx.get("readOnlyRootFilesystem") is True, f"{c['name']}: writable root file system")
        check(ctx.get("capabilities", {}).get("drop") == ["ALL"], f"{c['name']}: capabilities kept")

    # Every mount names a volume; remember where each volume is mounted.
    volumes = {v["name"]: v for v in pod["volumes"]}
    for claim in spec.get("volumeClaimTemplates", []):
        volumes[claim["metadata"]["name"]] = claim
    mounts = {}
    for c in pod["containers"] + pod.get("initContainers", []):
        for mount in c["volumeMounts"]:
            check(mount["name"] in volumes, f"{c['name']}: mount of unknown volume {mount['name']}")
            if c is container:
                mounts[mount["name"]] = mount
    check(all(m.get("readOnly") for n, m in mounts.items() if n not in ("state", "tmp")),
          "the coordinator may write to a volume other than its state and /tmp")

    # The configuration the container is started with, and its paths.
    args = container["args"]
    config_path = args[args.index("--config") + 1]
    config_volume = volumes[mounts["config"]["name"]]
    (configmap,) = [cm for cm in by_kind["ConfigMap"]
                    if cm["metadata"]["name"] == config_volume["configMap"]["name"]]
    check(under(config_path, mounts["config"]["mountPath"]), "--config is not in the config volume")
    config_key = config_path.rsplit("/", 1)[1]
    check(config_key in configmap["data"], f"the ConfigMap has no {config_key}")
    config = tomllib.loads(configmap["data"][config_key])
    tls_dir = mounts["tls"]["mountPath"]
    check(under(config["tls"]["ca_file"], tls_dir), "tls.ca_file is not in the Secret's volume")
    check(under(config["tls"]["cert_file"], tls_dir), "tls.cert_file is not in the Secret's volume")
    check(under(config["tls"]["key_file"], mounts["keys"]["mountPath"]),
          "tls.key_file is not the init container's copy")
    check(config["storage"]["dir"] == mounts["state"]["mountPath"], "storage.dir is not the volume claim")
    check(under(config["tls"]["crl_file"], config["storage"]["dir"]),
          "tls.crl_file is not in the writable state directory")
    check(config["server"]["listen"].endswith(":%d" % container["ports"][0]["containerPort"]),
          "server.listen is not the container port")
    (init,) = pod["initContainers"]
    check(init["command"][-1] == config["tls"]["key_file"], "the init container copies the key elsewhere")
    check(volumes["keys"]["emptyDir"].get("medium") == "Memory", "the key copy is not in memory")

    # Probes.
    for probe_name in ("livenessProbe", "readinessProbe"):
        probe = container[probe_name]
        if "--expect-exec-probe" in flags:
            check("exec" in probe and probe["exec"]["command"], f"{probe_name} is not the exec probe")
        else:
            check(probe.get("tcpSocket", {}).get("port") in port_names, f"{probe_name} probes no port")

    policies = by_kind.get("NetworkPolicy", [])
    if "--expect-no-network-policy" in flags:
        check(not policies, "NetworkPolicy rendered although disabled")
    else:
        check(len(policies) == 1, "no NetworkPolicy")
        for policy in policies:
            check(subset(policy["spec"]["podSelector"]["matchLabels"], pod_labels),
                  "the NetworkPolicy selects no pod of the StatefulSet")
            for rule in policy["spec"]["ingress"]:
                for port in rule["ports"]:
                    check(port["port"] in port_names, f"NetworkPolicy port {port['port']} is no container port")
            check(policy["spec"]["egress"] == [], "the NetworkPolicy lets traffic out")

    for problem in problems:
        print("check_chart:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
