#!/usr/bin/env python3
"""Offline validation of Paddock's deployment files (scripts/validate-deploy.sh).

What it owns:
  * rendering the Kustomize trees under deploy/kubernetes without kustomize
    (the subset of Kustomize they use; any other field is refused, never
    ignored), and comparing with `kubectl kustomize` when kubectl is there;
  * checking every rendered object against the Kubernetes JSON schemas that
    the PyPI package kubernetes-validate ships (strict: unknown fields are
    errors; an unknown kind is an error too);
  * the cross-object checks a schema cannot make: selectors that select,
    references to ConfigMaps, Secrets, keys, claims and named ports that
    exist, probes on /healthz and /readyz, the security context of every
    container, the grace period above the drain timeout, the shared
    workspaces (the data dir's workspaces, workspace-git and backups, and
    the [workspaces] roots, on a ReadWriteMany claim);
  * the same kind of checks on deploy/docker-compose.yml (whose schema,
    the Compose specification's, check-jsonschema checks: the shell script
    runs it);
  * deploy/Dockerfile, parsed by BuildKit's own parser (the PyPI package
    `dockerfile`): stages, the files and scripts it copies and runs, the
    toolchain versions, and that the image agrees with the manifests (user,
    port, paths, entrypoint);
  * a self-check that breaks copies of the files and expects each break to
    be caught.

Usage:
  validate.py kubernetes DEPLOY_DIR OUT_DIR   render and check every tree
  validate.py compose COMPOSE_FILE            cross-service checks
  validate.py dockerfile DEPLOY_DIR           the image's recipe
  validate.py self-check DEPLOY_DIR CHECK_JSONSCHEMA
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

# The Kubernetes versions the manifests must be valid for: the oldest we
# support (the preStop `sleep` action is there from 1.30) and the newest
# whose schemas kubernetes-validate ships.
K8S_VERSIONS = ["1.30.0", "1.37.0"]


def trees(kubernetes_dir: Path) -> list[str]:
    """The trees rendered: the base, and every overlay (each directory of
    overlays/ with a kustomization.yaml)."""
    overlays = sorted(p.parent.name for p in (kubernetes_dir / "overlays").glob("*/kustomization.yaml"))
    return ["base"] + [f"overlays/{name}" for name in overlays]


# What a tree may reference without rendering it: the base leaves the
# Secret to the admin (an overlay generates it, or `kubectl create secret`).
EXTERNAL = {"base": {("Secret", "paddock-secrets")}}

# Kinds that take no namespace.
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "CustomResourceDefinition",
    "PriorityClass",
}

KUSTOMIZATION_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "labels",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "patches",
}


class Invalid(Exception):
    """A deployment file is wrong: the message names the file and the field."""


# ---------------------------------------------------------------- rendering


def load_yaml_docs(path: Path) -> list[dict]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        raise Invalid(f"{path}: not valid YAML: {e}") from e
    for d in docs:
        if not isinstance(d, dict):
            raise Invalid(f"{path}: a document is not a mapping")
    return docs


def render(tree: Path) -> list[dict]:
    """The objects `kustomize build tree` gives, for the subset we use."""
    kfile = tree / "kustomization.yaml"
    if not kfile.is_file():
        raise Invalid(f"{tree}: no kustomization.yaml")
    docs = load_yaml_docs(kfile)
    if len(docs) != 1:
        raise Invalid(f"{kfile}: must hold one document")
    k = docs[0]
    unknown = set(k) - KUSTOMIZATION_FIELDS
    if unknown:
        raise Invalid(
            f"{kfile}: field(s) {sorted(unknown)} are not supported by this renderer "
            f"(supported: {sorted(KUSTOMIZATION_FIELDS)})"
        )
    if k.get("kind") not in ("Kustomization", None):
        raise Invalid(f"{kfile}: kind must be Kustomization, not {k.get('kind')!r}")

    objects: list[dict] = []
    for entry in k.get("resources", []):
        if not isinstance(entry, str):
            raise Invalid(f"{kfile}: resources: {entry!r} is not a path")
        p = (tree / entry).resolve()
        if p.is_dir():
            objects.extend(render(p))
        elif p.is_file():
            objects.extend(copy.deepcopy(load_yaml_docs(p)))
        else:
            raise Invalid(f"{kfile}: resources: {entry} does not exist")

    for kind, field in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in k.get(field, []):
            objects = generate(kfile, field, kind, gen, objects)

    for i, patch in enumerate(k.get("patches", [])):
        apply_patch(kfile, i, patch, objects)

    if "namespace" in k:
        for o in objects:
            if o.get("kind") not in CLUSTER_SCOPED:
                o.setdefault("metadata", {})["namespace"] = k["namespace"]

    for i, entry in enumerate(k.get("labels", [])):
        pairs = entry.get("pairs")
        if not isinstance(pairs, dict):
            raise Invalid(f"{kfile}: labels[{i}].pairs must be a mapping")
        extra = set(entry) - {"pairs", "includeSelectors", "includeTemplates"}
        if extra:
            raise Invalid(f"{kfile}: labels[{i}]: unsupported field(s) {sorted(extra)}")
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise Invalid(
                f"{kfile}: labels[{i}]: includeSelectors/includeTemplates are not supported "
                "(selectors are written out in the resources)"
            )
        for o in objects:
            o.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)

    for i, image in enumerate(k.get("images", [])):
        name = image.get("name")
        if not name:
            raise Invalid(f"{kfile}: images[{i}].name is missing")
        extra = set(image) - {"name", "newName", "newTag"}
        if extra:
            raise Invalid(f"{kfile}: images[{i}]: unsupported field(s) {sorted(extra)}")
        for o in objects:
            for c in containers(o):
                base, tag = split_image(c.get("image", ""))
                if base == name:
                    c["image"] = f"{image.get('newName', base)}:{image.get('newTag', tag or 'latest')}"
    return objects


def split_image(ref: str) -> tuple[str, str | None]:
    """`name[:tag]` (no digests here) into its name and tag."""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
        return name, tag
    return ref, None


def generate(kfile: Path, field: str, kind: str, gen: dict, objects: list[dict]) -> list[dict]:
    name = gen.get("name")
    if not name:
        raise Invalid(f"{kfile}: {field}: an entry has no name")
    extra = set(gen) - {"name", "files", "literals", "options", "type", "behavior"}
    if extra:
        raise Invalid(f"{kfile}: {field} {name}: unsupported field(s) {sorted(extra)}")
    if not (gen.get("options") or {}).get("disableNameSuffixHash"):
        raise Invalid(
            f"{kfile}: {field} {name}: options.disableNameSuffixHash must be true "
            "(the manifests name generated objects as they are)"
        )
    data: dict[str, str] = {}
    for spec in gen.get("files", []):
        key, _, rel = spec.partition("=") if "=" in spec else (Path(spec).name, "", spec)
        path = kfile.parent / rel
        if not path.is_file():
            raise Invalid(f"{kfile}: {field} {name}: file {rel} does not exist")
        data[key] = path.read_text()
    for spec in gen.get("literals", []):
        key, sep, value = spec.partition("=")
        if not sep:
            raise Invalid(f"{kfile}: {field} {name}: literal {spec!r} is not KEY=VALUE")
        data[key] = value
    behavior = gen.get("behavior", "create")
    existing = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    if behavior == "create":
        if existing:
            raise Invalid(f"{kfile}: {field} {name}: exists already (behavior: replace or merge)")
        obj: dict = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
        if kind == "Secret":
            obj["type"] = gen.get("type", "Opaque")
            obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        else:
            obj["data"] = data
        return objects + [obj]
    if behavior not in ("replace", "merge"):
        raise Invalid(f"{kfile}: {field} {name}: behavior must be create, replace or merge")
    if not existing:
        raise Invalid(f"{kfile}: {field} {name}: behavior {behavior} but there is no {kind} {name}")
    target = existing[0]
    encoded = (
        {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        if kind == "Secret"
        else data
    )
    if behavior == "replace":
        target["data"] = encoded
    else:
        target.setdefault("data", {}).update(encoded)
    return objects


def apply_patch(kfile: Path, i: int, patch: dict, objects: list[dict]) -> None:
    target = patch.get("target") or {}
    extra = set(target) - {"kind", "name"}
    if extra or not target.get("kind") or not target.get("name"):
        raise Invalid(f"{kfile}: patches[{i}].target must give kind and name (only)")
    ops = yaml.safe_load(patch.get("patch", ""))
    if not isinstance(ops, list):
        raise Invalid(
            f"{kfile}: patches[{i}].patch must be a JSON 6902 patch (a list of operations); "
            "strategic merge patches are not supported by this renderer"
        )
    matched = [
        o
        for o in objects
        if o.get("kind") == target["kind"] and o.get("metadata", {}).get("name") == target["name"]
    ]
    if not matched:
        raise Invalid(f"{kfile}: patches[{i}]: no {target['kind']} {target['name']} to patch")
    for o in matched:
        for j, op in enumerate(ops):
            json_patch_op(o, op, f"{kfile}: patches[{i}][{j}]")


def pointer(path: str, where: str) -> list[str]:
    if not path.startswith("/"):
        raise Invalid(f"{where}: path {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch_op(doc: dict, op: dict, where: str) -> None:
    kind = op.get("op")
    parts = pointer(op.get("path", ""), where)
    parent = doc
    for p in parts[:-1]:
        try:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        except (KeyError, IndexError, ValueError) as e:
            raise Invalid(f"{where}: path {op['path']} does not exist ({e})") from e
    last = parts[-1]
    if kind in ("add", "replace"):
        if "value" not in op:
            raise Invalid(f"{where}: {kind} needs a value")
        if isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            elif kind == "add":
                parent.insert(int(last), op["value"])
            else:
                parent[int(last)] = op["value"]
        else:
            if kind == "replace" and last not in parent:
                raise Invalid(f"{where}: replace: {op['path']} does not exist")
            parent[last] = op["value"]
    elif kind == "remove":
        try:
            del parent[int(last) if isinstance(parent, list) else last]
        except (KeyError, IndexError, ValueError) as e:
            raise Invalid(f"{where}: remove: {op['path']} does not exist") from e
    else:
        raise Invalid(f"{where}: op {kind!r} is not supported (add, replace, remove)")


def compare_with_kubectl(tree: Path, ours: list[dict]) -> str:
    """Renders with `kubectl kustomize` when kubectl is installed: the same
    objects or an error. Returns what was done, for the log."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return "kubectl not installed: rendered by this script only"
    run = subprocess.run([kubectl, "kustomize", str(tree)], capture_output=True, text=True)
    if run.returncode != 0:
        raise Invalid(f"{tree}: kubectl kustomize failed: {run.stderr.strip()}")
    theirs = [d for d in yaml.safe_load_all(run.stdout) if d]

    def normal(o: dict) -> dict:
        # kustomize wraps long base64 values of Secrets: compare the bytes.
        if o.get("kind") == "Secret":
            o = copy.deepcopy(o)
            o["data"] = {k: base64.b64decode("".join(v.split())) for k, v in o.get("data", {}).items()}
        return o

    def keyed(objs: list[dict]) -> dict:
        return {
            (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): normal(o) for o in objs
        }

    a, b = keyed(ours), keyed(theirs)
    if set(a) != set(b):
        raise Invalid(
            f"{tree}: kubectl kustomize renders other objects: only here {sorted(set(a) - set(b))}, "
            f"only there {sorted(set(b) - set(a))}"
        )
    for key in a:
        if a[key] != b[key]:
            raise Invalid(
                f"{tree}: {key[0]} {key[2]} differs from kubectl kustomize's rendering:\n"
                f"ours:   {json.dumps(a[key], sort_keys=True, default=str)}\n"
                f"theirs: {json.dumps(b[key], sort_keys=True, default=str)}"
            )
    return f"same {len(a)} objects as kubectl kustomize"


# ------------------------------------------------------------ schema checks


def schema_check(objects: list[dict], label: str) -> None:
    import kubernetes_validate
    from kubernetes_validate import utils as kv

    errors = []
    for version in K8S_VERSIONS:
        for o in objects:
            name = f"{o.get('kind')}/{o.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(o, version, strict=True)
            except kv.SchemaNotFoundError:
                errors.append(
                    f"{label}: {name}: no schema for kind {o.get('kind')} "
                    f"({o.get('apiVersion')}) in Kubernetes {version}"
                )
            except kv.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                errors.append(f"{label}: {name} (Kubernetes {version}): {where}: {e.message}")
    if errors:
        raise Invalid("\n".join(errors))


# --------------------------------------------------------- semantic checks


def containers(o: dict) -> list[dict]:
    spec = pod_spec(o)
    if spec is None:
        return []
    return spec.get("initContainers", []) + spec.get("containers", [])


def pod_spec(o: dict) -> dict | None:
    if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return o.get("spec", {}).get("template", {}).get("spec", {})
    if o.get("kind") == "Pod":
        return o.get("spec", {})
    return None


def pod_labels(o: dict) -> dict:
    if o.get("kind") == "Pod":
        return o.get("metadata", {}).get("labels", {})
    return o.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def semantic_check(objects: list[dict], label: str, external: set) -> None:
    errors: list[str] = []
    err = errors.append
    seen = set()
    by_kind: dict[str, dict[str, dict]] = {}
    for o in objects:
        key = (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        if key in seen:
            err(f"{label}: {key[0]} {key[2]} is defined twice")
        seen.add(key)
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    workloads = [o for o in objects if pod_spec(o) is not None]

    def exists(kind: str, name: str) -> bool:
        return name in by_kind.get(kind, {}) or (kind, name) in external

    def data_keys(kind: str, name: str) -> set | None:
        o = by_kind.get(kind, {}).get(name)
        if o is None:
            return None
        return set(o.get("data", {})) | set(o.get("stringData", {}))

    def check_ref(where: str, kind: str, name: str, key: str | None, optional: bool) -> None:
        if not exists(kind, name):
            if not optional:
                err(f"{where}: {kind} {name} does not exist")
            return
        keys = data_keys(kind, name)
        if key is not None and keys is not None and key not in keys and not optional:
            err(f"{where}: {kind} {name} has no key {key} (it has {sorted(keys)})")

    for w in workloads:
        wname = f"{label}: {w['kind']} {w['metadata']['name']}"
        spec = pod_spec(w)
        if w["kind"] in ("Deployment", "StatefulSet"):
            sel = w["spec"].get("selector", {}).get("matchLabels", {})
            if not sel or not selects(sel, pod_labels(w)):
                err(f"{wname}: spec.selector.matchLabels {sel} does not select its own template's labels {pod_labels(w)}")
        psc = spec.get("securityContext", {})
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        # A StatefulSet's claim templates are volumes of its pods too.
        claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for c in containers(w):
            cname = f"{wname} container {c['name']}"
            csc = c.get("securityContext", {})
            if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                err(f"{cname}: securityContext.runAsNonRoot must be true (pod or container)")
            if csc.get("allowPrivilegeEscalation") is not False:
                err(f"{cname}: securityContext.allowPrivilegeEscalation must be false")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                err(f"{cname}: securityContext.capabilities.drop must contain ALL")
            if csc.get("capabilities", {}).get("add"):
                err(f"{cname}: securityContext.capabilities.add must be empty")
            if csc.get("privileged"):
                err(f"{cname}: securityContext.privileged must not be true")
            seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                reason = w["metadata"].get("annotations", {}).get("paddock.dev/seccomp-unconfined-reason")
                if not (seccomp == "Unconfined" and reason):
                    err(
                        f"{cname}: seccompProfile.type must be RuntimeDefault or Localhost "
                        "(Unconfined only with the annotation paddock.dev/seccomp-unconfined-reason)"
                    )
            res = c.get("resources", {}).get("requests", {})
            if "cpu" not in res or "memory" not in res:
                err(f"{cname}: resources.requests must give cpu and memory")
            if "memory" not in c.get("resources", {}).get("limits", {}):
                err(f"{cname}: resources.limits.memory must be set")
            ports = {p.get("name") for p in c.get("ports", []) if p.get("name")}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    err(f"{cname}: {probe}.httpGet.port {port} is no port of the container ({sorted(ports)})")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if field in ref:
                        r = ref[field]
                        check_ref(f"{cname}: env {e['name']}", kind, r["name"], r["key"], r.get("optional", False))
            for ef in c.get("envFrom", []):
                for kind, field in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if field in ef:
                        check_ref(f"{cname}: envFrom", kind, ef[field]["name"], None, ef[field].get("optional", False))
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes and m["name"] not in claims:
                    err(f"{cname}: volumeMounts {m['name']} is not a volume of the pod")
        for vname, v in volumes.items():
            where = f"{wname}: volume {vname}"
            if "configMap" in v:
                for item in v["configMap"].get("items", []):
                    check_ref(where, "ConfigMap", v["configMap"]["name"], item["key"], v["configMap"].get("optional", False))
                check_ref(where, "ConfigMap", v["configMap"]["name"], None, v["configMap"].get("optional", False))
            if "secret" in v:
                for item in v["secret"].get("items", []):
                    check_ref(where, "Secret", v["secret"]["secretName"], item["key"], v["secret"].get("optional", False))
                check_ref(where, "Secret", v["secret"]["secretName"], None, v["secret"].get("optional", False))
            if "persistentVolumeClaim" in v:
                check_ref(where, "PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"], None, False)
        sa = spec.get("serviceAccountName")
        if sa and not exists("ServiceAccount", sa):
            err(f"{wname}: serviceAccountName {sa} does not exist")

    def selected(selector: dict) -> list[dict]:
        return [w for w in workloads if selector and selects(selector, pod_labels(w))]

    for svc in by_kind.get("Service", {}).values():
        where = f"{label}: Service {svc['metadata']['name']}"
        pods = selected(svc["spec"].get("selector", {}))
        if not pods:
            err(f"{where}: spec.selector {svc['spec'].get('selector')} selects no pod template")
        for p in svc["spec"].get("ports", []):
            tp = p.get("targetPort")
            if isinstance(tp, str):
                for w in pods:
                    names = {q.get("name") for c in containers(w) for q in c.get("ports", [])}
                    if tp not in names:
                        err(f"{where}: targetPort {tp} is no named port of {w['kind']} {w['metadata']['name']}")
    for ing in by_kind.get("Ingress", {}).values():
        where = f"{label}: Ingress {ing['metadata']['name']}"
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                backend = p.get("backend", {}).get("service", {})
                svc = by_kind.get("Service", {}).get(backend.get("name"))
                if svc is None:
                    err(f"{where}: backend service {backend.get('name')} does not exist")
                    continue
                port = backend.get("port", {})
                names = {q.get("name") for q in svc["spec"].get("ports", [])}
                numbers = {q.get("port") for q in svc["spec"].get("ports", [])}
                if ("name" in port and port["name"] not in names) or ("number" in port and port["number"] not in numbers):
                    err(f"{where}: backend port {port} is no port of Service {svc['metadata']['name']}")
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for o in by_kind.get(kind, {}).values():
            sel = (o["spec"].get("selector") or o["spec"].get("podSelector") or {}).get("matchLabels", {})
            if not selected(sel):
                err(f"{label}: {kind} {o['metadata']['name']}: selector {sel} selects no pod template")

    hosts = [w for w in workloads if any(c.get("args", [None])[0] == "serve" for c in containers(w))]
    if not hosts:
        err(f"{label}: no workload runs `paddock serve`")
    for w in hosts:
        paddock_host_checks(w, by_kind, label, err)
    if errors:
        raise Invalid("\n".join(errors))


def mounted_file(spec: dict, c: dict, path: str) -> tuple[dict, str] | None:
    """The volume and the key (file name within it) that `path` is in: the
    mount with the longest path that holds it, as the kernel resolves it."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    best = None
    for m in c.get("volumeMounts", []):
        prefix = m["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, m)
    if best is None:
        return None
    prefix, m = best
    return volumes.get(m["name"], {}), path[len(prefix):]


# What a host's data dir holds that every host must share: Paddock's own
# workspaces, their shadow git directories, and their backups.
SHARED_DATA_DIRS = ("workspaces", "workspace-git", "backups")


def paddock_host_checks(w: dict, by_kind: dict, label: str, err) -> None:
    """What a Paddock host needs: issue 23's probes, a PDB, the shared
    master key and config, the grace period above the drain timeout, the
    shared workspaces (SHARED_DATA_DIRS and the roots on a ReadWriteMany
    claim)."""
    where = f"{label}: {w['kind']} {w['metadata']['name']}"
    spec = pod_spec(w)
    c = next(c for c in containers(w) if c.get("args", [None])[0] == "serve")
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        err(f"{where}: livenessProbe must be an httpGet of /healthz")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        err(f"{where}: readinessProbe must be an httpGet of /readyz")
    if w["kind"] == "Deployment" and w["spec"].get("replicas", 1) < 2:
        err(f"{where}: replicas must be at least 2 (several hosts)")
    pdbs = [
        p
        for p in by_kind.get("PodDisruptionBudget", {}).values()
        if selects(p["spec"]["selector"].get("matchLabels", {}), pod_labels(w))
    ]
    if not pdbs:
        err(f"{where}: no PodDisruptionBudget selects the hosts")
    env = {e["name"]: e for e in c.get("env", [])}
    for name in ("PADDOCK_DATABASE_URL", "PADDOCK_HOST_ID", "PADDOCK_ADVERTISE_URL", "PADDOCK_TOKEN", "PADDOCK_ADMIN_TOKEN"):
        if name not in env:
            err(f"{where}: env {name} is not set")
    host_id = env.get("PADDOCK_HOST_ID", {})
    if host_id.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
        err(
            f"{where}: env PADDOCK_HOST_ID must come from the pod's name (fieldRef metadata.name): "
            "every replica needs its own host id"
        )
    if "value" in env.get("PADDOCK_DATABASE_URL", {}):
        err(f"{where}: env PADDOCK_DATABASE_URL must come from a Secret (secretKeyRef), not a value")
    if "PADDOCK_MASTER_KEY" in env and "value" in env["PADDOCK_MASTER_KEY"]:
        err(f"{where}: env PADDOCK_MASTER_KEY must never be a literal value")
    key_file = env.get("PADDOCK_MASTER_KEY_FILE", {}).get("value")
    if key_file:
        found = mounted_file(spec, c, key_file)
        if not found or "secret" not in found[0]:
            err(f"{where}: PADDOCK_MASTER_KEY_FILE {key_file} is not in a mounted Secret volume")
        else:
            vol, item = found
            items = {i["path"]: i["key"] for i in vol["secret"].get("items", [])}
            if items and item not in items:
                err(f"{where}: PADDOCK_MASTER_KEY_FILE {key_file}: the Secret volume has no item {item}")
    elif "PADDOCK_MASTER_KEY" not in env:
        err(f"{where}: the master key must come from a Secret (PADDOCK_MASTER_KEY_FILE or PADDOCK_MASTER_KEY)")
    config_path = env.get("PADDOCK_CONFIG", {}).get("value")
    if not config_path:
        err(f"{where}: env PADDOCK_CONFIG is not set")
        return
    found = mounted_file(spec, c, config_path)
    if not found or "configMap" not in found[0]:
        err(f"{where}: PADDOCK_CONFIG {config_path} is not in a mounted ConfigMap")
        return
    vol, key = found
    cm = by_kind.get("ConfigMap", {}).get(vol["configMap"]["name"])
    if cm is None or key not in cm.get("data", {}):
        err(f"{where}: PADDOCK_CONFIG {config_path}: ConfigMap {vol['configMap']['name']} has no key {key}")
        return
    try:
        config = tomllib.loads(cm["data"][key])
    except tomllib.TOMLDecodeError as e:
        err(f"{where}: ConfigMap {cm['metadata']['name']} key {key} is not valid TOML: {e}")
        return
    drain = config.get("cluster", {}).get("drain_timeout_secs", 60)
    sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace <= drain + sleep:
        err(
            f"{where}: terminationGracePeriodSeconds {grace} must be above [cluster] "
            f"drain_timeout_secs {drain} + the preStop sleep {sleep}"
        )
    sandbox_check(config, f"{where}: paddock.toml", err)
    data_dir = env.get("PADDOCK_DATA_DIR", {}).get("value")
    if not data_dir:
        err(f"{where}: env PADDOCK_DATA_DIR is not set")
        return
    shared = [(f"the data dir's {d}", f"{data_dir.rstrip('/')}/{d}") for d in SHARED_DATA_DIRS]
    roots = config.get("workspaces", {}).get("roots", [])
    shared += [(f"[workspaces] roots entry {r}", r) for r in roots]
    for what, directory in shared:
        found = mounted_file(spec, c, directory.rstrip("/") + "/x")
        if not found or "persistentVolumeClaim" not in found[0]:
            err(f"{where}: {what} ({directory}) is not on a mounted PersistentVolumeClaim: every host must share it")
            continue
        claim = by_kind.get("PersistentVolumeClaim", {}).get(found[0]["persistentVolumeClaim"]["claimName"])
        if claim is not None and "ReadWriteMany" not in claim["spec"].get("accessModes", []):
            err(
                f"{where}: {what} is on PersistentVolumeClaim {claim['metadata']['name']}, which must be "
                "ReadWriteMany (every host mounts it)"
            )


def sandbox_check(config: dict, where: str, err) -> None:
    """`backend = "docker"` with no engine to reach makes `paddock serve`
    refuse to start: in a pod or a Compose service that is a crash loop."""
    sandbox = config.get("sandbox", {})
    if sandbox.get("backend") == "docker" and not sandbox.get("engines") and not sandbox.get("docker_host"):
        err(
            f"{where}: [sandbox] backend = \"docker\" names no engine ([[sandbox.engines]] or docker_host): "
            "paddock serve would refuse to start"
        )


def kubernetes(deploy: Path, out: Path) -> None:
    """Renders and checks every tree; writes each rendering to OUT."""
    work = Path(tempfile.mkdtemp(prefix="paddock-deploy-"))
    try:
        copy_tree = work / "kubernetes"
        shutil.copytree(deploy / "kubernetes", copy_tree, ignore=shutil.ignore_patterns("secrets"))
        # The example's Secrets come from files the admin makes: make them
        # with its own script, as the docs say.
        script = copy_tree / "overlays/example/make-secrets.sh"
        made = subprocess.run(
            ["bash", str(script), str(script.parent / "secrets")], capture_output=True, text=True
        )
        if made.returncode != 0:
            raise Invalid(f"{script.name} failed: {made.stderr.strip()}")
        out.mkdir(parents=True, exist_ok=True)
        for name in trees(copy_tree):
            tree = copy_tree / name
            objects = render(tree)
            (out / (name.replace("/", "-") + ".yaml")).write_text(
                yaml.safe_dump_all(objects, sort_keys=False)
            )
            schema_check(objects, name)
            semantic_check(objects, name, EXTERNAL.get(name, set()))
            same = compare_with_kubectl(tree, objects)
            kinds = ", ".join(sorted({o["kind"] for o in objects}))
            print(
                f"validate-deploy: kubernetes/{name}: {len(objects)} objects ({kinds}) valid for "
                f"Kubernetes {' and '.join(K8S_VERSIONS)} (strict); cross-checks pass; {same}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ compose


def parse_duration(text: str) -> float:
    """A Compose duration (`90s`, `1m30s`, `1h`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Invalid(f"{text!r} is not a Compose duration like 90s or 1m30s")
    return sum(float(n) * units[u] for n, u in parts)


def compose(path: Path) -> None:
    """Cross-service checks of the two-host + PostgreSQL Compose file."""
    doc = load_yaml_docs(path)[0]
    errors: list[str] = []
    err = errors.append
    services = doc.get("services", {})
    pg = [n for n, s in services.items() if "postgres" in str(s.get("image", ""))]
    if len(pg) != 1:
        err(f"{path}: services: exactly one PostgreSQL service expected, found {pg}")
        raise Invalid("\n".join(errors))
    pg_name = pg[0]
    if "healthcheck" not in services[pg_name]:
        err(f"{path}: services.{pg_name}.healthcheck is missing (the hosts wait for it)")
    hosts = {n: s for n, s in services.items() if s.get("command") and "serve" in s["command"]}
    if len(hosts) < 2:
        err(f"{path}: at least two services must run `paddock serve`, found {sorted(hosts)}")

    def env_of(s: dict) -> dict:
        e = s.get("environment", {})
        if isinstance(e, list):
            e = dict(x.split("=", 1) if "=" in x else (x, None) for x in e)
        return e

    shared = ("PADDOCK_DATABASE_URL", "PADDOCK_MASTER_KEY", "PADDOCK_TOKEN", "PADDOCK_ADMIN_TOKEN", "PADDOCK_CONFIG")
    first = None
    host_ids, ports, data_dirs = {}, {}, {}
    for name, s in hosts.items():
        e = env_of(s)
        dep = s.get("depends_on", {})
        cond = dep.get(pg_name, {}).get("condition") if isinstance(dep, dict) else None
        if cond != "service_healthy":
            err(f"{path}: services.{name}.depends_on.{pg_name}.condition must be service_healthy")
        for k in shared + ("PADDOCK_HOST_ID", "PADDOCK_ADVERTISE_URL", "PADDOCK_BIND"):
            if k not in e:
                err(f"{path}: services.{name}.environment.{k} is not set")
        if first is None:
            first = (name, e)
        else:
            for k in shared:
                if e.get(k) != first[1].get(k):
                    err(
                        f"{path}: services.{name}.environment.{k} differs from services.{first[0]}'s: "
                        "every host must share it"
                    )
        host_ids.setdefault(e.get("PADDOCK_HOST_ID"), []).append(name)
        adv = str(e.get("PADDOCK_ADVERTISE_URL", ""))
        if f"//{name}:" not in adv:
            err(f"{path}: services.{name}.environment.PADDOCK_ADVERTISE_URL {adv} must name the service ({name})")
        for p in s.get("ports", []):
            ports.setdefault(str(p).rsplit(":", 1)[0], []).append(name)
        mounts = {}
        for v in s.get("volumes", []):
            if isinstance(v, str):
                src, _, rest = v.partition(":")
                mounts[rest.split(":")[0]] = src
            else:
                mounts[v.get("target")] = v.get("source")
        data_dirs[name] = mounts.get(str(e.get("PADDOCK_DATA_DIR")))
        s["_mounts"] = mounts
        if "healthcheck" not in s or "/readyz" not in json.dumps(s["healthcheck"]):
            err(f"{path}: services.{name}.healthcheck must probe /readyz")
        config_src = mounts.get(str(e.get("PADDOCK_CONFIG")))
        if not config_src or not (path.parent / config_src).is_file():
            err(f"{path}: services.{name}: PADDOCK_CONFIG {e.get('PADDOCK_CONFIG')} is not a file mounted from deploy/")
            continue
        try:
            config = tomllib.loads((path.parent / config_src).read_text())
        except tomllib.TOMLDecodeError as x:
            err(f"{path}: {config_src} is not valid TOML: {x}")
            continue
        sandbox_check(config, f"{path}: {config_src}", err)
        drain = config.get("cluster", {}).get("drain_timeout_secs", 60)
        grace = parse_duration(str(s.get("stop_grace_period", "10s")))
        if grace <= drain:
            err(
                f"{path}: services.{name}.stop_grace_period {s.get('stop_grace_period', '10s')} must be "
                f"above [cluster] drain_timeout_secs {drain} of {config_src}"
            )
        s["_roots"] = config.get("workspaces", {}).get("roots", [])
    for hid, names in host_ids.items():
        if len(names) > 1:
            err(f"{path}: services {names} share PADDOCK_HOST_ID {hid}")
    for port, names in ports.items():
        if len(names) > 1:
            err(f"{path}: services {names} publish the same host port {port}")
    dirs = [d for d in data_dirs.values() if d]
    if len(dirs) != len(set(dirs)):
        err(f"{path}: the hosts' data dirs must be volumes of their own: {data_dirs}")
    named = set(doc.get("volumes", {}) or {})
    first_host = next(iter(hosts.values()), {})
    data_dir = str(env_of(first_host).get("PADDOCK_DATA_DIR", "")).rstrip("/")
    for target in [f"{data_dir}/{d}" for d in SHARED_DATA_DIRS] + list(first_host.get("_roots", [])):
        sources = {n: s.get("_mounts", {}).get(target) for n, s in hosts.items()}
        if len(set(sources.values())) != 1 or None in sources.values() or next(iter(sources.values())) not in named:
            err(f"{path}: every host must mount one shared named volume at {target}: {sources}")
    if errors:
        raise Invalid("\n".join(errors))
    print(
        f"validate-deploy: {path.name}: {len(hosts)} hosts on one PostgreSQL ({pg_name}); cross-service checks pass",
        flush=True,
    )


# --------------------------------------------------------------- Dockerfile


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `rel` out (.dockerignore patterns:
    a match of the path or of one of its parent directories)."""
    import fnmatch

    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        pat = pattern.strip("/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pat) or fnmatch.fnmatch(prefix, pat.replace("**/", "")):
                return True
    return False


def dockerfile_check(deploy: Path, repo: Path) -> None:
    """deploy/Dockerfile against the repository it builds (REPO) and the
    manifests that run its image."""
    import dockerfile as bk

    path = deploy / "Dockerfile"
    where = str(path)
    try:
        commands = bk.parse_file(str(path))
    except bk.GoParseError as e:
        raise Invalid(f"{where}: BuildKit cannot parse it: {e}") from e
    ignore_file = deploy / "Dockerfile.dockerignore"
    patterns = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    errors: list[str] = []
    err = errors.append
    args: dict[str, str] = {}
    stages: list[str] = []
    final: dict = {"user": None, "entrypoint": None, "cmd": None, "expose": [], "env": {}, "copies": []}
    runs: list[str] = []
    for c in commands:
        if c.cmd == "ARG" and not stages:
            name, _, value = c.value[0].partition("=")
            args[name] = value
        elif c.cmd == "FROM":
            stages.append(c.value[2] if len(c.value) == 3 and c.value[1].upper() == "AS" else f"#{len(stages)}")
            final = {"user": None, "entrypoint": None, "cmd": None, "expose": [], "env": {}, "copies": [], "mkdirs": ""}
        elif c.cmd == "COPY":
            source_stage = next((f.split("=", 1)[1] for f in c.flags if f.startswith("--from=")), None)
            sources = c.value[:-1]
            if source_stage is not None:
                if source_stage not in stages[:-1]:
                    err(f"{where}: COPY --from={source_stage}: no earlier stage of that name ({stages[:-1]})")
                final["copies"].append((source_stage, sources, c.value[-1]))
            else:
                for src in sources:
                    if src == ".":
                        continue
                    if not (repo / src).exists():
                        err(f"{where}: COPY {src}: no such file in the repository")
                    elif ignored(src, patterns):
                        err(f"{where}: COPY {src}: left out of the build context by {ignore_file.name}")
        elif c.cmd == "RUN":
            runs.append(c.value[0])
            if stages and stages[-1] == f"#{len(stages) - 1}":
                final["mkdirs"] += c.value[0]
        elif c.cmd == "USER":
            final["user"] = c.value[0]
        elif c.cmd == "ENTRYPOINT":
            final["entrypoint"] = list(c.value)
        elif c.cmd == "CMD":
            final["cmd"] = list(c.value)
        elif c.cmd == "EXPOSE":
            final["expose"] += list(c.value)
        elif c.cmd == "ENV":
            final["env"].update(dict(zip(c.value[::2], c.value[1::2])))
    run_text = "\n".join(runs)
    for script in sorted(set(re.findall(r"\./(scripts/[\w.-]+)", run_text))):
        f = repo / script
        if not f.is_file() or not os.access(f, os.X_OK):
            err(f"{where}: RUN ./{script}: no such executable script in the repository")
        elif ignored(script, patterns):
            err(f"{where}: RUN ./{script}: left out of the build context by {ignore_file.name}")
    crates = set()
    for manifest in repo.glob("**/Cargo.toml"):
        if "target" in manifest.parts or "node_modules" in manifest.parts:
            continue
        m = re.search(r'^name\s*=\s*"([^"]+)"', manifest.read_text(), re.M)
        if m:
            crates.add(m.group(1))
    for crate in sorted(set(re.findall(r"-p\s+([\w-]+)", run_text))):
        if crate not in crates:
            err(f"{where}: RUN cargo … -p {crate}: no crate of that name in the workspace")
    workspace = tomllib.loads((repo / "Cargo.toml").read_text())
    need_rust = workspace.get("workspace", {}).get("package", {}).get("rust-version")

    def version(text: str) -> tuple:
        return tuple(int(x) for x in re.findall(r"\d+", text)[:2])

    if need_rust and version(args.get("RUST_VERSION", "0")) < version(need_rust):
        err(f"{where}: ARG RUST_VERSION {args.get('RUST_VERSION')} is below the workspace's rust-version {need_rust}")
    if version(args.get("NODE_VERSION", "0")) < (20,):
        err(f"{where}: ARG NODE_VERSION {args.get('NODE_VERSION')}: the dashboard needs Node.js 20 or newer")

    # The image against the manifests that run it.
    user = final["user"] or "0"
    uid = user.split(":")[0]
    if not uid.isdigit() or uid == "0":
        err(f"{where}: the last stage's USER must be a numeric non-root uid (runAsNonRoot checks it), not {user!r}")
    entry = final["entrypoint"] or []
    binary = next((e for e in entry if e.endswith("/paddock")), None)
    if binary is None:
        err(f"{where}: ENTRYPOINT {entry} does not run paddock")
    else:
        installed = False
        for _stage, sources, dest in final["copies"]:
            for src in sources:
                # COPY --from=build /out/ /opt/paddock/ puts /out/bin/paddock at /opt/paddock/bin/paddock.
                if src.endswith("/") and binary.startswith(dest) and f"{src}{binary[len(dest):]}" in run_text:
                    installed = True
        if not installed:
            err(f"{where}: ENTRYPOINT runs {binary}, which no COPY --from puts there")
        plugins = str(Path(binary).parent.parent / "plugins")
        if not any(plugins.startswith(dest.rstrip("/")) for _s, _src, dest in final["copies"]) or "/out/plugins" not in run_text:
            err(f"{where}: the built-in plugins must be at {plugins} (`../plugins` from the binary)")
    base = render(deploy / "kubernetes/base")
    deployment = next(o for o in base if o["kind"] == "Deployment")
    spec = pod_spec(deployment)
    container = next(c for c in containers(deployment) if c.get("args", [None])[0] == "serve")
    if "command" in container:
        err(f"kubernetes/base: Deployment {deployment['metadata']['name']}: `command` would bypass the image's ENTRYPOINT (tini)")
    if str(spec.get("securityContext", {}).get("runAsUser")) != uid:
        err(f"kubernetes/base: runAsUser {spec.get('securityContext', {}).get('runAsUser')} is not the image's USER {uid}")
    ports = {str(p["containerPort"]) for p in container.get("ports", [])}
    if not ports & {p.split("/")[0] for p in final["expose"]}:
        err(f"{where}: EXPOSE {final['expose']} is not the container port of the manifests ({sorted(ports)})")
    for m in container.get("volumeMounts", []):
        if m["mountPath"].startswith(("/var/lib/paddock", "/srv/paddock")) and m["mountPath"] not in final["mkdirs"]:
            err(f"{where}: the image does not make {m['mountPath']} (owned by its user) where the manifests mount a volume")
    if errors:
        raise Invalid("\n".join(errors))
    print(
        f"validate-deploy: Dockerfile: {len(stages)} stages parsed by BuildKit's parser; its files, scripts, "
        f"crates and toolchain versions exist; the image (user {uid}, {binary}, port "
        f"{'/'.join(final['expose'])}) agrees with the manifests",
        flush=True,
    )


# ---------------------------------------------------------------- self-check

# Each break: (what, file under deploy/, old text, new text, what the error
# must say). Each must make validation fail, with that text in the error.
BREAKS = [
    ("a wrong type", "kubernetes/base/deployment.yaml", "replicas: 3", 'replicas: "three"', "is not of type 'integer'"),
    ("an unknown field", "kubernetes/base/deployment.yaml", "revisionHistoryLimit: 5", "revisionHistoryLimits: 5", "revisionHistoryLimits"),
    ("a misspelt kind", "kubernetes/base/pdb.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", "no schema for kind"),
    ("a selector that selects nothing", "kubernetes/base/service.yaml", "component: host", "component: hosts", "selects no pod template"),
    ("a probe off /readyz", "kubernetes/base/deployment.yaml", "path: /readyz", "path: /healthz", "readinessProbe must be an httpGet of /readyz"),
    ("an Ingress to a port the Service lacks", "kubernetes/overlays/example/ingress.yaml", "                  name: http", "                  name: https", "is no port of Service paddock"),
    ("a missing Secret key", "kubernetes/overlays/example/kustomization.yaml", "      - api-token=secrets/api-token\n", "", "has no key api-token"),
    ("a grace period below the drain", "kubernetes/base/deployment.yaml", "terminationGracePeriodSeconds: 90", "terminationGracePeriodSeconds: 30", "must be above [cluster] drain_timeout_secs"),
    ("privilege escalation", "kubernetes/base/deployment.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation must be false"),
    ("an unsupported kustomize field", "kubernetes/base/kustomization.yaml", "resources:\n", "namePrefix: x-\nresources:\n", "not supported by this renderer"),
    ("two hosts with one host id", "docker-compose.yml", "PADDOCK_HOST_ID: paddock-2", "PADDOCK_HOST_ID: paddock-1", "share PADDOCK_HOST_ID"),
    ("hosts started before PostgreSQL is ready", "docker-compose.yml", "condition: service_healthy", "condition: service_started", "must be service_healthy"),
    ("a stop grace period below the drain", "docker-compose.yml", "stop_grace_period: 90s", "stop_grace_period: 30s", "must be above [cluster] drain_timeout_secs"),
    ("one host id for every replica", "kubernetes/base/deployment.yaml", "- name: PADDOCK_HOST_ID\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.name", "- name: PADDOCK_HOST_ID\n              value: paddock", "every replica needs its own host id"),
    ("Paddock's workspaces on the pod's own disk", "kubernetes/base/deployment.yaml", "            - name: shared\n              mountPath: /var/lib/paddock/workspaces\n              subPath: workspaces\n", "", "the data dir's workspaces (/var/lib/paddock/workspaces) is not on a mounted PersistentVolumeClaim"),
    ("a Compose host with workspaces of its own", "docker-compose.yml", "      - data-2:/var/lib/paddock\n      - workspaces:/var/lib/paddock/workspaces\n", "      - data-2:/var/lib/paddock\n      - workspaces-2:/var/lib/paddock/workspaces\n", "one shared named volume at /var/lib/paddock/workspaces"),
    ("the Docker backend with no engine", "kubernetes/base/paddock.toml", 'backend = "auto"', 'backend = "docker"', "would refuse to start"),
    ("a script the image runs that does not exist", "Dockerfile", "./scripts/build-plugins.sh", "./scripts/build-plugin.sh", "no such executable script"),
    ("an image running as root", "Dockerfile", "USER 10001:10001", "USER root", "numeric non-root uid"),
    ("a context file left out by the ignore file", "Dockerfile.dockerignore", ".git/\n", ".git/\ndashboard/package-lock.json\n", "left out of the build context"),
    ("a compose schema error", "docker-compose.yml", "restart: unless-stopped", "restart: 42", "compose-spec"),
]


def self_check(deploy: Path, check_jsonschema: str) -> None:
    for what, rel, old, new, expect in BREAKS:
        work = Path(tempfile.mkdtemp(prefix="paddock-deploy-break-"))
        try:
            copy_root = work / "deploy"
            shutil.copytree(deploy, copy_root, ignore=shutil.ignore_patterns("secrets"))
            f = copy_root / rel
            text = f.read_text()
            if old not in text:
                raise Invalid(f"self-check {what}: {rel} no longer contains {old!r}: update BREAKS")
            f.write_text(text.replace(old, new, 1))
            message = ""
            try:
                if rel.startswith("Dockerfile"):
                    with open(os.devnull, "w") as null:
                        saved, sys.stdout = sys.stdout, null
                        try:
                            dockerfile_check(copy_root, deploy.resolve().parent)
                        finally:
                            sys.stdout = saved
                elif rel == "docker-compose.yml":
                    run = subprocess.run(
                        [check_jsonschema, "--builtin-schema", "vendor.compose-spec", str(f)],
                        capture_output=True,
                        text=True,
                    )
                    if run.returncode != 0:
                        message = "compose-spec: " + run.stdout + run.stderr
                    else:
                        compose(f)
                else:
                    with open(os.devnull, "w") as null:
                        saved, sys.stdout = sys.stdout, null
                        try:
                            kubernetes(copy_root, work / "out")
                        finally:
                            sys.stdout = saved
            except Invalid as e:
                message = str(e)
            if not message:
                raise Invalid(f"self-check: {what} ({rel}) was NOT caught")
            if expect not in message:
                raise Invalid(f"self-check: {what} ({rel}) failed, but not as expected ({expect!r}):\n{message}")
            print(
                f"validate-deploy: self-check: {what} is caught: {message.strip().splitlines()[0][:160]}",
                flush=True,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "kubernetes":
            kubernetes(Path(argv[1]), Path(argv[2]))
        elif len(argv) == 2 and argv[0] == "compose":
            compose(Path(argv[1]))
        elif len(argv) == 2 and argv[0] == "dockerfile":
            dockerfile_check(Path(argv[1]), Path(argv[1]).resolve().parent)
        elif len(argv) == 3 and argv[0] == "self-check":
            self_check(Path(argv[1]), argv[2])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Invalid as e:
        print(f"validate-deploy: FAILED\n{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
