"""The Kubernetes manifests, rendered as an SRE applies them, checked offline.

Every overlay is rendered with `kubectl kustomize`; every core resource is validated against the
Kubernetes schemas (kubernetes-validate, strict), every Strimzi, CloudNativePG and Prometheus
Operator resource against its CRD schema (../shared/crds beside the repo) or, without those, for
the fields their documentation requires; then the properties the platform relies on are asserted:
hardened pods, probes, one migration Job per service, the topics of halte_shared.topics, the
network flows of the architecture and no other, alerts with runbooks. Checkov is in
test_checkov.py.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from halte_shared.settings import SERVICE_PORTS
from halte_shared.topics import TOPICS, all_topic_specs

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS_DIR = DEPLOY / "k8s" / "overlays"
CRDS = REPO.parent / "shared" / "crds"
README = DEPLOY / "README.md"

KUBERNETES_VERSION = "1.32"
NAMESPACES = {"dev": "halte-dev", "prod": "halte"}
BUILDS = ("dev", "dev/platform", "dev/migrations", "prod", "prod/platform", "prod/migrations")
SERVICES = tuple(SERVICE_PORTS)
PROD_SECRETS = {"halte-secrets", "halte-pg-app"}
CUSTOM_GROUPS = ("kafka.strimzi.io", "postgresql.cnpg.io", "monitoring.coreos.com")

# What the services' engineers emit (docs/plumbing.md, issue 9); alerts and panels may use no other.
EMITTED_METRICS = {
    "halte_consumer_lag_messages",
    "halte_consumed_total",
    "halte_handler_seconds",
    "halte_outbox_backlog",
    "halte_outbox_oldest_age_seconds",
    "halte_outbox_published_total",
    "halte_outbox_publish_errors_total",
    "halte_dead_lettered_total",
    "halte_suppression_latest_sequence",
    "halte_dispatcher_suppression_feed_lag_seconds",
    "halte_dispatcher_optout_source_age_seconds",
    "halte_dispatcher_unresolved_optouts",
    "halte_dispatcher_unresolved_optout_age_seconds",
    "halte_consumer_stalled_seconds",
    "halte_consumer_retries_total",
    "halte_dispatcher_held_backlog",
    "halte_dispatch_decisions_total",
    "halte_carrier_submissions_total",
    "halte_carrier_submit_seconds",
    "halte_webhook_requests_total",
    "halte_stop_to_suppression_seconds",
    "halte_stop_to_dispatcher_aware_seconds",
    "halte_notifier_confirmations_total",
    "halte_http_requests_total",
    "halte_http_request_seconds",
}

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="kubectl is not installed (Debian kubernetes-client; `make system-deps` installs it)",
)


# -- rendering ---------------------------------------------------------------------------------
@cache
def render(build: str) -> tuple[dict[str, Any], ...]:
    """Return the resources `kubectl kustomize` renders for an overlay (e.g. "prod/migrations")."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAYS_DIR / build)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {build} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def overlay_of(build: str) -> str:
    return build.split("/")[0]


def group_of(resource: dict[str, Any]) -> str:
    api_version: str = resource["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


def is_custom(resource: dict[str, Any]) -> bool:
    return group_of(resource) in CUSTOM_GROUPS


def ident(resource: dict[str, Any]) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


def find(resources: Iterable[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]


def one(resources: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(resources, kind, name)
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def all_rendered() -> Iterator[tuple[str, dict[str, Any]]]:
    for build in BUILDS:
        for resource in render(build):
            yield build, resource


def config_of(resources: Iterable[dict[str, Any]]) -> dict[str, str]:
    maps = [r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"].startswith("halte-config")]
    assert len(maps) == 1, "every build that runs Halte code carries exactly one halte-config"
    data: dict[str, str] = maps[0]["data"]
    return data


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# -- rendering and schemas -----------------------------------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_every_overlay_renders_into_its_namespace(build: str) -> None:
    resources = render(build)
    assert resources, f"{build} renders nothing"
    namespace = NAMESPACES[overlay_of(build)]
    for resource in resources:
        if resource["kind"] == "Namespace":
            assert resource["metadata"]["name"] == namespace
        else:
            assert resource["metadata"].get("namespace") == namespace, f"{ident(resource)} is outside {namespace}"


def test_core_resources_validate_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    failures = []
    checked = 0
    for build, resource in all_rendered():
        if is_custom(resource):
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            failures.append(f"{build}: {ident(resource)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            failures.append(f"{build}: {ident(resource)}: {exc.message}")
    assert not failures, "\n".join(failures)
    assert checked > 100


def crd_schema_path(resource: dict[str, Any]) -> Path:
    group = group_of(resource)
    version = resource["apiVersion"].split("/")[1]
    return CRDS / group / f"{resource['kind'].lower()}_{version}.json"


def test_operator_resources_validate_against_their_crd_schemas() -> None:
    if not CRDS.is_dir():
        pytest.skip(
            f"CRD schemas not found at {CRDS} (the repo's parent dir's shared/crds); "
            "test_operator_resources_carry_their_documented_required_fields still checks them"
        )
    import jsonschema

    failures = []
    kinds = set()
    for build, resource in all_rendered():
        if not is_custom(resource):
            continue
        path = crd_schema_path(resource)
        if not path.exists():
            schema_name = path.relative_to(CRDS)
            failures.append(f"{build}: {ident(resource)}: no schema {schema_name} for {resource['apiVersion']}")
            continue
        schema = json.loads(path.read_text())
        validator = jsonschema.validators.validator_for(schema)(schema)
        for error in validator.iter_errors(resource):
            where = ".".join(str(p) for p in error.absolute_path)
            failures.append(f"{build}: {ident(resource)}: {where}: {error.message}")
        kinds.add(resource["kind"])
    assert not failures, "\n".join(failures)
    assert kinds == set(REQUIRED_FIELDS)


def dig(resource: dict[str, Any], dotted: str) -> Any:
    value: Any = resource
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


# The fields each operator's documentation marks required (Strimzi's, CloudNativePG's and the
# Prometheus Operator's API references); checked even where the CRD schemas are not at hand.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "Kafka": ("spec.kafka.listeners",),
    "KafkaNodePool": ("metadata.labels.strimzi.io/cluster", "spec.replicas", "spec.roles", "spec.storage.type"),
    "KafkaTopic": ("metadata.labels.strimzi.io/cluster", "spec.partitions", "spec.replicas", "spec.topicName"),
    "Cluster": ("spec.instances", "spec.storage.size"),
    "PrometheusRule": ("spec.groups",),
    "ServiceMonitor": ("spec.selector", "spec.endpoints"),
    "PodMonitor": ("spec.selector", "spec.podMetricsEndpoints"),
}


def test_operator_resources_carry_their_documented_required_fields() -> None:
    failures = []
    for build, resource in all_rendered():
        if not is_custom(resource):
            continue
        labels = resource["metadata"].get("labels", {})
        for field in REQUIRED_FIELDS[resource["kind"]]:
            if field.startswith("metadata.labels."):
                present = field.removeprefix("metadata.labels.") in labels
            else:
                present = dig(resource, field) not in (None, [], {})
            if not present:
                failures.append(f"{build}: {ident(resource)} lacks {field}")
        if resource["kind"] == "Kafka":
            for listener in resource["spec"]["kafka"]["listeners"]:
                missing = {"name", "port", "type", "tls"} - set(listener)
                if missing:
                    failures.append(f"{build}: listener {listener.get('name')} lacks {sorted(missing)}")
        if resource["kind"] == "PrometheusRule":
            for group in resource["spec"]["groups"]:
                for rule in group["rules"]:
                    if not ("alert" in rule or "record" in rule) or "expr" not in rule:
                        failures.append(f"{build}: a rule of {group['name']} lacks alert/record or expr")
    assert not failures, "\n".join(failures)


# -- the services ----------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", NAMESPACES)
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_hardened_with_probes_and_limits(overlay: str, service: str) -> None:
    resources = render(overlay)
    deployment = one(resources, "Deployment", service)
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    port = SERVICE_PORTS[service]
    package = "halte_" + service.replace("-", "_")

    assert container["command"] == ["python", "-m", package] and container["args"] == ["serve"]
    assert ":" in container["image"] and not container["image"].endswith(":latest")
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    env = env_of(container)
    assert env["PORT"]["value"] == str(port)
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "halte-pg-app", "key": "uri"}
    assert env["ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"].startswith("halte-secrets")
    assert [ref["configMapRef"]["name"] for ref in container["envFrom"]] == [_config_name(resources)]

    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{service} lacks {kind}"

    pod_security = spec["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] >= 10000
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == service
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]

    grace = float(config_of(resources)["HALTE_SHUTDOWN_GRACE_SECONDS"])
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] > grace + float(pre_stop[1]), "SIGKILL would cut the shutdown"

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service_resource = one(resources, "Service", service)
    http = {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}
    assert service_resource["spec"]["ports"] == [http]
    assert service_resource["spec"]["selector"].items() <= labels.items()
    assert config_of(resources)[f"HALTE_{service.replace('-', '_').upper()}_URL"] == f"http://{service}:{port}"

    budget = one(resources, "PodDisruptionBudget", service)
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    monitor = one(resources, "ServiceMonitor", service)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_resource["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "http" and monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert one(resources, "ServiceAccount", service)["automountServiceAccountToken"] is False


def _config_name(resources: Iterable[dict[str, Any]]) -> str:
    return next(r["metadata"]["name"] for r in resources if r["metadata"]["name"].startswith("halte-config"))


@pytest.mark.parametrize("overlay", NAMESPACES)
def test_dispatcher_and_inbound_autoscale_within_the_partitions(overlay: str) -> None:
    resources = render(overlay)
    scaled = {h["spec"]["scaleTargetRef"]["name"]: h for h in find(resources, "HorizontalPodAutoscaler")}
    assert set(scaled) == {"dispatcher", "inbound"}
    for name, hpa in scaled.items():
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in one(resources, "Deployment", name)["spec"], f"{name}'s replicas would fight its HPA"
    assert scaled["dispatcher"]["spec"]["maxReplicas"] <= max(t.partitions for t in TOPICS)
    if overlay == "prod":
        for name in SERVICES:
            replicas = one(resources, "Deployment", name)["spec"].get("replicas")
            minimum = scaled[name]["spec"]["minReplicas"] if name in scaled else replicas
            assert minimum >= 2, f"{name} needs two pods in production to survive a node drain"


@pytest.mark.parametrize("overlay", NAMESPACES)
def test_one_migration_job_per_service_runs_the_release_with_its_settings(overlay: str) -> None:
    services = render(overlay)
    migrations = render(f"{overlay}/migrations")
    assert not find(services, "Job"), "migration Jobs must not roll out with the services"
    jobs = find(migrations, "Job")
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(f"{s}-migrate" for s in SERVICES)
    assert _config_name(migrations) == _config_name(services), "migrations and services must share one configuration"
    for service in SERVICES:
        job = one(migrations, "Job", f"{service}-migrate")
        spec = pod_spec(job)
        (container,) = spec["containers"]
        (served,) = pod_spec(one(services, "Deployment", service))["containers"]
        assert container["image"] == served["image"], "a Job must migrate with the code it deploys"
        assert container["command"] == served["command"] and container["args"] == ["migrate"]
        assert spec["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 1
        assert job["spec"]["activeDeadlineSeconds"] > 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert env_of(container)["DATABASE_URL"] == env_of(served)["DATABASE_URL"]
        assert spec["serviceAccountName"] == service


# -- Kafka, topics, PostgreSQL ---------------------------------------------------------------
def test_production_kafka_has_three_brokers_replication_three_and_two_in_sync() -> None:
    resources = render("prod")
    kafka = one(resources, "Kafka", "halte")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False
    assert config["unclean.leader.election.enable"] is False
    pools = {p["metadata"]["name"]: p for p in find(resources, "KafkaNodePool")}
    brokers = [p for p in pools.values() if "broker" in p["spec"]["roles"]]
    controllers = [p for p in pools.values() if "controller" in p["spec"]["roles"]]
    assert sum(p["spec"]["replicas"] for p in brokers) == 3
    assert sum(p["spec"]["replicas"] for p in controllers) == 3, "a KRaft quorum survives one loss with three voters"
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == "halte" for p in pools.values())
    assert "topicOperator" in kafka["spec"]["entityOperator"], "the KafkaTopic resources need the topic operator"
    assert "kafkaExporter" in kafka["spec"], "the dead-letter alert reads the Kafka exporter"


@pytest.mark.parametrize("overlay", NAMESPACES)
def test_services_find_the_brokers_and_the_database(overlay: str) -> None:
    resources = render(overlay)
    (listener,) = one(resources, "Kafka", "halte")["spec"]["kafka"]["listeners"]
    assert config_of(resources)["KAFKA_BOOTSTRAP_SERVERS"] == f"halte-kafka-bootstrap:{listener['port']}"
    cluster = one(resources, "Cluster", "halte-pg")
    assert f"{cluster['metadata']['name']}-app" == "halte-pg-app", "CloudNativePG names the app secret <cluster>-app"
    assert cluster["spec"]["bootstrap"]["initdb"]["database"]
    if overlay == "prod":
        assert cluster["spec"]["instances"] == 3
        assert cluster["spec"]["postgresql"]["synchronous"]["number"] >= 1, "a commit must survive losing the primary"


def test_committed_topic_manifests_match_the_topics_table() -> None:
    spec = importlib.util.spec_from_file_location("gen_topics", DEPLOY / "gen_topics.py")
    assert spec and spec.loader
    gen_topics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_topics)
    assert gen_topics.main(["--check"]) == 0, "run `.venv/bin/python deploy/gen_topics.py` and commit its output"


@pytest.mark.parametrize("overlay", NAMESPACES)
def test_every_topic_and_its_dead_letter_twin_is_a_kafka_topic(overlay: str) -> None:
    rendered = {t["spec"]["topicName"]: t for t in find(render(overlay), "KafkaTopic")}
    expected = {t.name: t for t in all_topic_specs()}
    assert set(rendered) == set(expected)
    replicas, in_sync = (3, 2) if overlay == "prod" else (1, 1)
    for name, topic in expected.items():
        resource = rendered[name]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", resource["metadata"]["name"])
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "halte"
        assert resource["spec"]["partitions"] == topic.partitions
        assert resource["spec"]["replicas"] == replicas
        assert resource["spec"]["config"]["retention.ms"] == topic.retention_ms
        assert resource["spec"]["config"]["min.insync.replicas"] == in_sync


# -- the doors: ingresses and secrets -----------------------------------------------------------
@pytest.mark.parametrize("overlay", NAMESPACES)
def test_carriers_and_clients_come_in_through_tls_ingresses_that_expose_no_internals(overlay: str) -> None:
    ingresses = {i["metadata"]["name"]: i for i in find(render(overlay), "Ingress")}
    assert set(ingresses) == {"inbound", "campaign-api"}
    allowed = {"inbound": {"/v1/carriers/", "/v1/kannel/", "/u/"}, "campaign-api": {"/v1/", "/docs", "/openapi.json"}}
    for name, ingress in ingresses.items():
        (rule,) = ingress["spec"]["rules"]
        tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
        assert rule["host"] in tls_hosts, f"{name}'s host is served without TLS"
        paths = rule["http"]["paths"]
        assert {p["path"] for p in paths} == allowed[name]
        assert all(p["backend"]["service"]["name"] == name for p in paths)
    assert ingresses["inbound"]["spec"]["rules"][0]["host"] != ingresses["campaign-api"]["spec"]["rules"][0]["host"]


def secret_refs(resources: Iterable[dict[str, Any]]) -> set[tuple[str, str, bool]]:
    refs = set()
    for resource in resources:
        if resource["kind"] not in ("Deployment", "Job"):
            continue
        for container in pod_spec(resource)["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"], bool(ref.get("optional"))))
            assert all("secretRef" not in e for e in container.get("envFrom", [])), "name each secret key"
    return refs


def test_production_keeps_secrets_out_of_the_repository_and_documents_each_one() -> None:
    readme = README.read_text()
    for build in ("prod", "prod/platform", "prod/migrations"):
        resources = render(build)
        assert not find(resources, "Secret"), f"{build} must not carry a Secret: create it in the cluster"
        for name, key, _optional in secret_refs(resources):
            assert name in PROD_SECRETS, f"{build} references an undocumented Secret {name}"
            if name == "halte-secrets":
                assert f"`{key}`" in readme, f"deploy/README.md does not document the key {key} of {name}"


def test_development_generates_every_secret_key_its_pods_need() -> None:
    for build in ("dev", "dev/migrations"):
        resources = render(build)
        (secret,) = find(resources, "Secret")
        for name, key, optional in secret_refs(resources):
            if name == "halte-pg-app":
                continue
            assert name == secret["metadata"]["name"]
            assert optional or key in secret["data"], f"dev lacks the key {key}"


# -- network ---------------------------------------------------------------------------------
class Endpoint:
    """A pod (or the Internet) that may open or accept connections."""

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        labels: dict[str, str] | None = None,
        ports: dict[tuple[str, int], str] | None = None,
        ip: str,
        owned: bool = False,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.labels = labels or {}
        self.ports = ports or {}
        self.ip = ipaddress.ip_address(ip)
        self.owned = owned

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Say whether a label selector matches labels ({} matches everything)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def peer_matches(peer: dict[str, Any], policy_namespace: str, endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        inside = endpoint.ip in ipaddress.ip_network(block["cidr"])
        return inside and not any(endpoint.ip in ipaddress.ip_network(c) for c in block.get("except", []))
    if endpoint.name == "internet":
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], endpoint.namespace_labels)
    else:
        in_namespace = endpoint.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector"), endpoint.labels)


def port_matches(rule_ports: list[dict[str, Any]] | None, target: Endpoint, port: tuple[str, int]) -> bool:
    if not rule_ports:
        return True
    for spec in rule_ports:
        protocol = spec.get("protocol", "TCP")
        wanted = spec.get("port")
        if isinstance(wanted, str):
            if target.ports.get(port) == wanted and protocol == port[0]:
                return True
        elif (protocol, wanted) == port or (wanted is None and protocol == port[0]):
            return True
    return False


def allowed(
    policies: list[dict[str, Any]], source: Endpoint, target: Endpoint, port: tuple[str, int], *, direction: str
) -> bool:
    """Say whether the policies let source reach target:port, seen from one side."""
    subject, other = (target, source) if direction == "Ingress" else (source, target)
    applying = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], subject.labels)
    ]
    if not applying:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in applying:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            peer_ok = not peers or any(peer_matches(p, policy["metadata"]["namespace"], other) for p in peers)
            if peer_ok and port_matches(rule.get("ports"), target, port):
                return True
    return False


def strimzi_listener_policy(kafka: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Return the NetworkPolicy Strimzi derives from the listeners' networkPolicyPeers."""
    return {
        "metadata": {"name": "strimzi-listeners", "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"strimzi.io/cluster": "halte", "strimzi.io/kind": "Kafka"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": listener.get("networkPolicyPeers", []),
                    "ports": [{"protocol": "TCP", "port": listener["port"]}],
                }
                for listener in kafka["spec"]["kafka"]["listeners"]
            ],
        },
    }


def endpoints_of(overlay: str) -> list[Endpoint]:
    namespace = NAMESPACES[overlay]
    resources = list(render(overlay)) + list(render(f"{overlay}/migrations"))
    endpoints = []
    for index, workload in enumerate(r for r in resources if r["kind"] in ("Deployment", "Job")):
        (container,) = pod_spec(workload)["containers"]
        ports = {("TCP", p["containerPort"]): p.get("name", "") for p in container.get("ports", [])}
        name = workload["metadata"]["name"]
        endpoints.append(
            Endpoint(
                name,
                namespace=namespace,
                labels=workload["spec"]["template"]["metadata"]["labels"],
                ports=ports,
                ip=f"10.244.1.{index + 10}",
                owned=True,
            )
        )
    return [
        *endpoints,
        Endpoint(
            "kafka",
            namespace=namespace,
            labels={"strimzi.io/cluster": "halte", "strimzi.io/kind": "Kafka", "strimzi.io/broker-role": "true"},
            ports={("TCP", 9092): "tcp-clients"},
            ip="10.244.2.1",
        ),
        Endpoint(
            "postgres",
            namespace=namespace,
            labels={"cnpg.io/cluster": "halte-pg", "cnpg.io/instanceRole": "primary"},
            ports={("TCP", 5432): "postgresql", ("TCP", 8000): "status", ("TCP", 9187): "metrics"},
            ip="10.244.2.2",
        ),
        Endpoint(
            "prometheus", namespace="monitoring", labels={"app.kubernetes.io/name": "prometheus"}, ip="10.244.3.1"
        ),
        Endpoint(
            "ingress-nginx",
            namespace="ingress-nginx",
            labels={"app.kubernetes.io/name": "ingress-nginx"},
            ip="10.244.3.2",
        ),
        Endpoint(
            "cnpg-operator",
            namespace="cnpg-system",
            labels={"app.kubernetes.io/name": "cloudnative-pg"},
            ip="10.244.3.3",
        ),
        Endpoint(
            "kube-dns",
            namespace="kube-system",
            labels={"k8s-app": "kube-dns"},
            ports={("UDP", 53): "dns"},
            ip="10.96.0.10",
        ),
        Endpoint("stranger", namespace=namespace, labels={"app": "debug"}, ip="10.244.4.1"),
        Endpoint("other-namespace", namespace="default", labels={"app": "other"}, ip="10.244.4.2"),
        Endpoint("internet", namespace="", ports={("TCP", p): "" for p in (443, 2775, 13013, 5432)}, ip="203.0.113.7"),
    ]


def expected_flows(overlay: str) -> set[tuple[str, str, int]]:
    """Return the architecture's connections (source, target, port), and nothing else."""
    migrations = [f"{s}-migrate" for s in SERVICES]
    flows = {
        ("campaign-api", "suppression", 8003),
        ("campaign-api", "dispatcher", 8004),
        ("dispatcher", "suppression", 8003),
        ("dispatcher", "inbound", 8002),
        ("dispatcher", "campaign-api", 8001),
        ("ingress-nginx", "inbound", 8002),
        ("ingress-nginx", "campaign-api", 8001),
        ("prometheus", "postgres", 9187),
        ("cnpg-operator", "postgres", 8000),
        ("cnpg-operator", "postgres", 5432),
    }
    flows |= {(s, "kafka", 9092) for s in SERVICES}
    flows |= {(s, "postgres", 5432) for s in (*SERVICES, *migrations)}
    flows |= {("prometheus", s, port) for s, port in SERVICE_PORTS.items()}
    flows |= {(s, "internet", port) for s in ("dispatcher", "notifier") for port in (443, 2775, 13013)}
    owned = [*SERVICES, *migrations]
    if overlay == "dev":
        owned.append("carrier-simulator")
        flows |= {("dispatcher", "carrier-simulator", 8010), ("notifier", "carrier-simulator", 8010)}
        flows |= {("carrier-simulator", "inbound", 8002)}
    flows |= {(s, "kube-dns", 53) for s in owned}
    return flows


@pytest.mark.parametrize("overlay", NAMESPACES)
def test_network_policies_allow_the_architectures_flows_and_no_other(overlay: str) -> None:
    namespace = NAMESPACES[overlay]
    resources = render(overlay)
    kafka = one(resources, "Kafka", "halte")
    policies = [*find(resources, "NetworkPolicy"), strimzi_listener_policy(kafka, namespace)]
    endpoints = endpoints_of(overlay)
    actual = set()
    for source in endpoints:
        for target in endpoints:
            if source is target or not (source.owned or target.owned or target.name in ("kafka", "postgres")):
                continue
            for port in target.ports:
                if allowed(policies, source, target, port, direction="Egress") and allowed(
                    policies, source, target, port, direction="Ingress"
                ):
                    actual.add((source.name, target.name, port[1]))
    expected = expected_flows(overlay)
    assert not actual - expected, f"flows the architecture does not need: {sorted(actual - expected)}"
    assert not expected - actual, f"flows the architecture needs, blocked: {sorted(expected - actual)}"


# -- alerts and dashboard ----------------------------------------------------------------------
def metric_names(expr: str) -> set[str]:
    names = set()
    for name in re.findall(r"\bhalte_[a-z_]+", expr):
        names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def readme_anchors() -> set[str]:
    anchors = set()
    for line in README.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_alert_rules_cover_what_breaks_the_law_or_loses_money_each_with_a_runbook() -> None:
    (rules,) = find(render("prod"), "PrometheusRule")
    alerts = {r["alert"]: r for g in rules["spec"]["groups"] for r in g["rules"] if "alert" in r}
    required = {
        "the suppression feed is stale": "HalteSuppressionFeedStale",
        "the outbox backlog grows": "HalteOutboxBacklogGrowing",
        "the outbox stopped publishing": "HalteOutboxStuck",
        "a dead-letter queue is not empty": "HalteDeadLetterQueueNotEmpty",
        "messages are dead-lettered": "HalteDeadLettered",
        "confirmations fail": "HalteConfirmationFailed",
        "STOPs are enforced late": "HalteStopEnforcementSlow",
        "a consumer waits on the infrastructure": "HalteConsumerStalled",
        "the opt-out journal cannot be read": "HalteOptoutJournalUnreadable",
        "an acknowledged opt-out is not recorded": "HalteOptoutUnresolved",
    }
    missing = {condition: name for condition, name in required.items() if name not in alerts}
    assert not missing, f"no alert for: {missing}"
    anchors = readme_anchors()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower() and anchor in anchors, f"deploy/README.md has no section for {name}"
        unknown = metric_names(rule["expr"]) - EMITTED_METRICS
        assert not unknown, f"{name} reads metrics nobody emits: {unknown}"
        assert rule["expr"].count("(") == rule["expr"].count(")"), name


def test_grafana_dashboard_shows_the_key_signals() -> None:
    config_maps = find(render("prod"), "ConfigMap")
    (config_map,) = [c for c in config_maps if "grafana_dashboard" in c["metadata"].get("labels", {})]
    dashboard = json.loads(config_map["data"]["halte-overview.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    shown = set().union(*(metric_names(e) for e in exprs))
    assert not shown - EMITTED_METRICS, f"panels read metrics nobody emits: {shown - EMITTED_METRICS}"
    key = {
        "halte_stop_to_suppression_seconds",
        "halte_stop_to_dispatcher_aware_seconds",
        "halte_dispatcher_suppression_feed_lag_seconds",
        "halte_outbox_backlog",
        "halte_consumer_lag_messages",
        "halte_dead_lettered_total",
        "halte_notifier_confirmations_total",
        "halte_dispatch_decisions_total",
        "halte_carrier_submissions_total",
    }
    assert key <= shown, f"missing panels for {key - shown}"
    assert dashboard["uid"] == "halte-overview"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
