"""Offline checks of deploy/kubernetes/*.yaml, run by deploy/kubernetes/validate/run.sh.

1. Kubernetes' own kinds against the API schemas that kubernetes-validate
   bundles (strict: an unknown field is an error, as with
   `kubectl apply --validate=strict`).
2. The SpinApp against its CRD's schema (spinapp-v1alpha1.schema.yaml,
   copied from spinkube/spin-operator, source noted there), strict as well,
   plus the spin-operator's admission rules the schema cannot express.
3. What ties the files to this repository: the variables the SpinApp and
   its runtime configuration set are the ones spin.toml declares, every
   required one is set, secret ones only through the Secret; the Secret
   template holds placeholders only; the HPA scales the SpinApp's
   Deployment; the worker's probes reach the worker's /health and /ready
   on the address it listens on; the worker's grace period outlasts its
   drain; the migrate Job runs `migrate`.

Before any of that, it proves the checks can fail: each is run on a copy of
a manifest broken on purpose, and must refuse it.

Usage: validate.py REPO_ROOT
Prints one line per check and ends with "manifests: N passed, N failed".
"""

import copy
import glob
import os
import re
import sys
import tomllib

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30.0"
"""The oldest Kubernetes the manifests must suit (SpinKube's documented
floor at the time of writing is well below it); autoscaling/v2 and
batch/v1 ttlSecondsAfterFinished are stable there."""

WORKER_DRAIN_WORST_CASE_SECS = 30
"""The worker's drain after SIGTERM, worst case: every step of a held
delivery is bounded by the worker's own timeouts (native-worker: db.rs
pool wait 5 s + QUERY_TIMEOUT 5 s per lookup and per dedup record,
topology.rs CONFIRM_TIMEOUT 3 s for publish and confirm, CLOSE_TIMEOUT 2 s
per channel close): about 30 s. Measured normally: well under a second
(tests/two_instances/ stops a worker mid-stream)."""

PLACEHOLDER = re.compile(r"^\$\{[A-Z][A-Z0-9_]*\}$")


class Failures:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, problems):
        if problems:
            self.failed += 1
            for p in problems:
                print(f"[manifests] FAILED: {name}: {p}")
        else:
            self.passed += 1
            print(f"[manifests] ok: {name}")


def strict(schema):
    """Unknown fields become errors: every object schema that lists its
    properties (and has no additionalProperties of its own) gets
    additionalProperties: false, as the API server's strict field validation
    treats fields its structural schema does not know."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def load_spinapp_schema(path):
    with open(path) as f:
        fixture = yaml.safe_load(f)
    return strict(copy.deepcopy(fixture["openAPIV3Schema"]))


def spinapp_problems(doc, schema):
    """The CRD's schema, then the operator's admission webhook rules."""
    problems = [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
    spec = doc.get("spec") or {}
    # spin-operator internal/webhook/spinapp_validating.go: validateExecutor, validateReplicas.
    if not spec.get("executor"):
        problems.append("spec.executor must be set (no default executor on a cluster without one)")
    autoscaling = spec.get("enableAutoscaling", False)
    replicas = spec.get("replicas", 0)
    if autoscaling and replicas != 0:
        problems.append("spec.replicas: replicas cannot be set when autoscaling is enabled")
    if not autoscaling and replicas < 1:
        problems.append("spec.replicas: replicas must be > 0")
    return problems


def kubernetes_problems(doc):
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        return []
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(root)"
        return [f"{path}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [str(e)]


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name=None):
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    if len(found) != 1:
        raise LookupError(f"expected one {kind}{' ' + name if name else ''}, found {len(found)}")
    return found[0]


def spin_variables(repo):
    with open(os.path.join(repo, "spin.toml"), "rb") as f:
        return tomllib.load(f).get("variables", {})


def key_value_labels(repo):
    """Every key-value store label a component of spin.toml declares."""
    with open(os.path.join(repo, "spin.toml"), "rb") as f:
        components = tomllib.load(f).get("component", {})
    return sorted({label for c in components.values() for label in c.get("key_value_stores", [])})


def runtime_config(secret):
    """The runtime-config.toml of a Secret template, placeholders standing in
    for values (they are quoted TOML strings, so it parses as it is)."""
    text = (secret.get("stringData") or {}).get("runtime-config.toml")
    if text is None:
        raise LookupError(f"Secret {secret['metadata']['name']} has no runtime-config.toml key")
    return tomllib.loads(text)


def project_problems(docs, repo):
    problems = []
    declared = spin_variables(repo)
    app = one(docs, "SpinApp")
    spec = app["spec"]

    # The Secret template: placeholders only, never a value.
    for secret in by_kind(docs, "Secret"):
        name = secret["metadata"]["name"]
        if secret.get("data"):
            problems.append(f"Secret {name}: use stringData with placeholders, not data")
        for key, value in (secret.get("stringData") or {}).items():
            if key == "runtime-config.toml":
                for var, v in runtime_config(secret)["variables_provider"][0].get("values", {}).items():
                    if not PLACEHOLDER.match(str(v)):
                        problems.append(f"Secret {name}: runtime-config.toml sets {var} to a value, not a ${{PLACEHOLDER}}")
            elif not PLACEHOLDER.match(str(value)):
                problems.append(f"Secret {name}: {key} is a value, not a ${{PLACEHOLDER}}")

    # The SpinApp's variables: from its runtime configuration's Secret, and plain.
    secret_name = (spec.get("runtimeConfig") or {}).get("loadFromSecret")
    from_secret = {}
    rc = {}
    try:
        rc = runtime_config(one(docs, "Secret", secret_name))
        providers = rc.get("variables_provider", [])
        if [p.get("type") for p in providers] != ["static"]:
            problems.append(f"runtime-config.toml: expected one static variables_provider, found {providers}")
        from_secret = providers[0].get("values", {}) if providers else {}
    except (LookupError, tomllib.TOMLDecodeError) as e:
        problems.append(f"SpinApp runtimeConfig.loadFromSecret={secret_name}: {e}")
    plain = {v["name"]: v for v in spec.get("variables", [])}
    for name in list(from_secret) + list(plain):
        if name not in declared:
            problems.append(f"variable {name} is not declared in spin.toml [variables]")
    for name, decl in declared.items():
        if decl.get("required") and name not in from_secret and name not in plain:
            problems.append(f"spin.toml requires {name}; neither the runtime configuration nor the SpinApp sets it")
        if decl.get("secret") and name in plain and "valueFrom" not in plain[name]:
            problems.append(f"{name} is secret in spin.toml but a plain value in the SpinApp")
    for name in ("database_url", "redis_url"):
        if name not in from_secret:
            problems.append(f"{name} (it carries credentials) must come from the runtime configuration's Secret")

    # Every key-value store a component declares is configured, on the Redis
    # that redis_url names (the cached reads' entries are written through
    # redis_url and read through the store).
    stores = rc.get("key_value_store", {})
    for label in key_value_labels(repo):
        store = stores.get(label)
        if store is None:
            problems.append(f"runtime-config.toml: no [key_value_store.{label}] for spin.toml's key_value_stores")
        elif store.get("type") != "redis" or store.get("url") != from_secret.get("redis_url"):
            problems.append(
                f"runtime-config.toml: [key_value_store.{label}] must be type redis with url {from_secret.get('redis_url')!r} "
                f"(redis_url's), not {store}"
            )

    # The HPA scales the Deployment the operator makes for the SpinApp.
    hpa = one(docs, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    if (target.get("kind"), target.get("name")) != ("Deployment", app["metadata"]["name"]):
        problems.append(f"HPA targets {target}, not the SpinApp's Deployment {app['metadata']['name']}")
    if not spec.get("enableAutoscaling"):
        problems.append("the HPA owns the replicas: the SpinApp needs enableAutoscaling: true")
    if not (spec.get("resources") or {}).get("requests", {}).get("cpu"):
        problems.append("the HPA's CPU utilization needs the SpinApp's resources.requests.cpu")
    if hpa["spec"].get("minReplicas", 1) < 2:
        problems.append("minReplicas below 2: one pod lost takes the API down")

    # The app's probes: readiness checks the dependencies, liveness nothing
    # (a liveness probe on a dependency restarts every pod in an outage).
    checks = spec.get("checks") or {}
    for check, path in (("readiness", "/api/v1/health/ready/"), ("liveness", "/api/v1/health/live/")):
        got = ((checks.get(check) or {}).get("httpGet") or {}).get("path")
        if got != path:
            problems.append(f"SpinApp {check} check is on {got}, expected {path}")

    # The worker: probes where it listens, a grace period longer than its drain.
    worker = one(docs, "Deployment", "user-service-worker")
    pod = worker["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    listen = env.get("HTTP_ADDR", "127.0.0.1:9090")
    host, _, port = listen.rpartition(":")
    if host.startswith("127.") or host in ("localhost", "[::1]"):
        problems.append(f"HTTP_ADDR={listen}: the kubelet's probes cannot reach loopback")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get = (container.get(probe) or {}).get("httpGet", {})
        probe_port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != path or str(probe_port) != port:
            problems.append(f"worker {probe} is {get}, expected GET {path} on port {port}")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= WORKER_DRAIN_WORST_CASE_SECS:
        problems.append(f"terminationGracePeriodSeconds {grace} does not outlast the worker's drain "
                        f"({WORKER_DRAIN_WORST_CASE_SECS} s worst case)")
    if container.get("args") != ["run"]:
        problems.append(f"worker args {container.get('args')}, expected ['run']")
    if env.get("WORKER_QUEUE_TYPE") not in (None, "classic", "quorum"):
        problems.append(f"WORKER_QUEUE_TYPE={env.get('WORKER_QUEUE_TYPE')} is neither classic nor quorum")

    job = one(docs, "Job", "user-service-migrate")
    job_container = job["spec"]["template"]["spec"]["containers"][0]
    if job_container.get("args") != ["migrate"]:
        problems.append(f"migrate Job args {job_container.get('args')}, expected ['migrate']")
    if job_container.get("image") != container.get("image"):
        problems.append("the migrate Job must run the worker's image (its migrations are compiled in)")

    # Nobody runs as root.
    for workload in (worker, job):
        security = workload["spec"]["template"]["spec"].get("securityContext", {})
        if not security.get("runAsNonRoot") or security.get("runAsUser", 0) == 0:
            problems.append(f"{workload['kind']} {workload['metadata']['name']} may run as root")
    return problems


def all_problems(docs, repo, spinapp_schema):
    """Every check, by name: (name, problems)."""
    results = []
    for doc in docs:
        name = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        if doc.get("kind") == "SpinApp":
            results.append((f"{name} against the SpinApp CRD and the operator's rules",
                            spinapp_problems(doc, spinapp_schema)))
        else:
            results.append((f"{name} against Kubernetes {KUBERNETES_VERSION}", kubernetes_problems(doc)))
    try:
        results.append(("the manifests agree with spin.toml, the worker and each other", project_problems(docs, repo)))
    except (LookupError, KeyError, IndexError, TypeError) as e:
        results.append(("the manifests agree with spin.toml, the worker and each other", [f"{type(e).__name__}: {e}"]))
    return results


def breakages():
    """Manifests broken on purpose, one way each: every one must be refused,
    or the checks above prove nothing."""

    def deployment(docs):
        return one(docs, "Deployment", "user-service-worker")

    def spinapp(docs):
        return one(docs, "SpinApp")

    def secret(docs):
        return one(docs, "Secret", "user-service-runtime-config")

    def set_(get, *path_and_value):
        *path, value = path_and_value

        def apply(docs):
            node = get(docs)
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return apply

    def edit_runtime_config(old, new):
        def apply(docs):
            data = secret(docs)["stringData"]
            data["runtime-config.toml"] = data["runtime-config.toml"].replace(old, new)
        return apply

    container = lambda docs: deployment(docs)["spec"]["template"]["spec"]["containers"][0]  # noqa: E731
    return [
        ("a misspelt Deployment field", set_(container, "livenessProbes", {})),
        ("a Deployment field of the wrong type", set_(lambda d: deployment(d)["spec"], "replicas", "two")),
        ("a misspelt SpinApp field", set_(lambda d: spinapp(d)["spec"], "enableAutoScaling", True)),
        ("a SpinApp without an image", lambda d: spinapp(d)["spec"].pop("image")),
        ("a SpinApp quantity that is not one", set_(lambda d: spinapp(d)["spec"]["resources"]["limits"], "memory", "lots")),
        ("SpinApp replicas beside autoscaling", set_(lambda d: spinapp(d)["spec"], "replicas", 2)),
        ("a real secret in the template", edit_runtime_config('"${JWT_SECRET}"', '"hunter2hunter2hunter2hunter2hunter2"')),
        ("a variable spin.toml does not declare", edit_runtime_config("mfa_key =", "mfa_keys =")),
        ("a required variable nobody sets", edit_runtime_config('jwt_secret = "${JWT_SECRET}"', "")),
        ("no key-value store for the cached reads", edit_runtime_config("[key_value_store.cache]", "[key_value_store.other]")),
        ("the key-value store on another Redis",
         edit_runtime_config('type = "redis"\nurl = "${REDIS_URL}"', 'type = "redis"\nurl = "${OTHER_REDIS_URL}"')),
        ("a secret variable as a plain SpinApp value",
         lambda d: spinapp(d)["spec"]["variables"].append({"name": "service_keys", "value": "x"})),
        ("the HPA aimed elsewhere",
         set_(lambda d: one(d, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"], "name", "other")),
        ("worker probes on loopback",
         lambda d: [e.update(value="127.0.0.1:9090") for e in container(d)["env"] if e["name"] == "HTTP_ADDR"]),
        ("a readiness probe on /health", set_(lambda d: container(d)["readinessProbe"]["httpGet"], "path", "/health")),
        ("an app liveness check on the dependencies",
         set_(lambda d: spinapp(d)["spec"]["checks"]["liveness"]["httpGet"], "path", "/api/v1/health/")),
        ("a grace period shorter than the drain",
         set_(lambda d: deployment(d)["spec"]["template"]["spec"], "terminationGracePeriodSeconds", 10)),
        ("a migrate Job that does not migrate",
         set_(lambda d: one(d, "Job")["spec"]["template"]["spec"]["containers"][0], "args", ["run"])),
    ]


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    here = os.path.join(repo, "deploy", "kubernetes")
    schema = load_spinapp_schema(os.path.join(here, "validate", "spinapp-v1alpha1.schema.yaml"))
    docs = []
    for path in sorted(glob.glob(os.path.join(here, "*.yaml"))):
        with open(path) as f:
            docs.extend(d for d in yaml.safe_load_all(f) if d)
    results = Failures()

    for name, problems in all_problems(docs, repo, schema):
        results.check(name, problems)

    for what, breaking in breakages():
        broken = copy.deepcopy(docs)
        breaking(broken)
        refused = [p for _, problems in all_problems(broken, repo, schema) for p in problems]
        reason = f" ({refused[0][:110]})" if refused else ""
        results.check(f"refuses {what}{reason}", [] if refused else ["accepted: the checks cannot see this mistake"])

    print(f"manifests: {results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
