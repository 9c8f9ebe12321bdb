"""The Kubernetes manifests: rendered by kustomize, validated offline, checked against Settings.

Rendering uses a real kustomize: a ``kustomize`` binary next to the interpreter (.venv/bin) or
on PATH, else ``kubectl kustomize``. Without either the tests fail with the install command;
they are never skipped. Core kinds are validated against the Kubernetes OpenAPI schemas bundled
in the ``kubernetes-validate`` package (offline); the CRD kinds (ServiceMonitor, PrometheusRule,
ScaledObject, TriggerAuthentication) against the partial schemas below.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import promql_parser
import pytest
import yaml
from pydantic import SecretStr

from service.config import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
TARGETS = ("base", "overlays/stage", "overlays/prod")
OVERLAYS = {"overlays/stage": ("io-bridge-stage", "stage"), "overlays/prod": ("io-bridge", "prod")}
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
KUSTOMIZE_HINT = (
    "kustomize not found: install it with "
    "`GOBIN=$PWD/.venv/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1` "
    "(or put kubectl, which embeds kustomize, on PATH)"
)
CORE_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
SECRET_NAME = "io-bridge-credentials"
# Settings read from the Secret, never from the ConfigMap (the SecretStr fields and the ids).
SECRET_ENV = {
    "IOB_IO_CLIENT_ID",
    "IOB_IO_CLIENT_SECRET",
    "IOB_KAFKA_SASL_USERNAME",
    "IOB_KAFKA_SASL_PASSWORD",
    "IOB_WEBHOOK_API_KEY",
}
# Secret keys a deployment may leave out (the feature they belong to is off).
OPTIONAL_SECRET_ENV = {"IOB_WEBHOOK_API_KEY"}

Doc = dict[str, Any]


# ---------------------------------------------------------------- rendering


def kustomize_command() -> list[str]:
    """The kustomize build command available here; fails the test with a hint otherwise."""
    for candidate in (Path(sys.executable).parent / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).is_file():
            return [str(candidate), "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    pytest.fail(KUSTOMIZE_HINT)


@functools.cache
def render(target: str) -> tuple[Doc, ...]:
    """The resources one kustomization renders to."""
    result = subprocess.run(
        [*kustomize_command(), str(K8S / target)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def one(target: str, kind: str, name: str | None = None) -> Doc:
    found = [
        doc
        for doc in render(target)
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{target}: expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def config(target: str) -> dict[str, str]:
    """The data of the io-bridge-config ConfigMap (its name carries a content hash)."""
    maps = [
        doc
        for doc in render(target)
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("io-bridge-config-")
    ]
    assert len(maps) == 1
    data: dict[str, str] = maps[0]["data"]
    return data


def container(target: str) -> Doc:
    containers = one(target, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["io-bridge"]
    main: Doc = containers[0]
    return main


def setting_name(env: str) -> str:
    assert env.startswith("IOB_"), env
    return env.removeprefix("IOB_").lower()


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------- partial CRD schemas

_STR = {"type": "string"}
_STR_MAP = {"type": "object", "additionalProperties": _STR}
_DURATION = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"}
_LABEL_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": _STR_MAP, "matchExpressions": {"type": "array"}},
    "additionalProperties": False,
}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _STR,
        "namespace": _STR,
        "labels": _STR_MAP,
        "annotations": _STR_MAP,
    },
}


def _crd(api_version: str, kind: str, spec: Doc) -> Doc:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


CRD_SCHEMAS: dict[str, Doc] = {
    "ServiceMonitor": _crd(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": {"type": "object"},
                "jobLabel": _STR,
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": _STR,
                            "path": _STR,
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
    "PrometheusRule": _crd(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "properties": {
                            "name": _STR,
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "properties": {
                                        "alert": _STR,
                                        "record": _STR,
                                        "expr": _STR,
                                        "for": _DURATION,
                                        "labels": _STR_MAP,
                                        "annotations": _STR_MAP,
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
    "ScaledObject": _crd(
        "keda.sh/v1alpha1",
        "ScaledObject",
        {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"apiVersion": _STR, "kind": _STR, "name": _STR},
                    "additionalProperties": False,
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object"},
                "fallback": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": _STR,
                            "name": _STR,
                            "useCachedMetrics": {"type": "boolean"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            # KEDA's trigger metadata is a map of strings: quote numbers.
                            "metadata": _STR_MAP,
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": _STR, "kind": _STR},
                                "additionalProperties": False,
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
    "TriggerAuthentication": _crd(
        "keda.sh/v1alpha1",
        "TriggerAuthentication",
        {
            "type": "object",
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "properties": {"parameter": _STR, "name": _STR, "key": _STR},
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
}


# ---------------------------------------------------------------- rendering and schemas


@pytest.mark.parametrize("target", TARGETS)
def test_each_kustomization_renders_every_kind(target: str) -> None:
    """kustomize builds the base and both overlays into the expected set of kinds."""
    kinds = {doc["kind"] for doc in render(target)}
    expected = (CORE_KINDS | CUSTOM_KINDS) - ({"Namespace"} if target == "base" else set())
    assert kinds == expected


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_core_resources_validate_against_the_kubernetes_schemas(target: str, version: str) -> None:
    """Every core resource passes strict OpenAPI validation (unknown fields are errors)."""
    errors = []
    for doc in render(target):
        if doc["kind"] in CORE_KINDS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                first_line = str(error).splitlines()[0]
                errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {first_line}")
    assert errors == []


@pytest.mark.parametrize("target", TARGETS)
def test_custom_resources_match_their_partial_schemas(target: str) -> None:
    """ServiceMonitor, PrometheusRule, ScaledObject and TriggerAuthentication are well formed."""
    for doc in render(target):
        if doc["kind"] in CUSTOM_KINDS:
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])


def test_the_partial_crd_schemas_reject_an_unquoted_keda_number() -> None:
    """The ScaledObject schema catches a number in trigger metadata (KEDA needs strings)."""
    scaled = json.loads(json.dumps(one("base", "ScaledObject")))
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 2000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, CRD_SCHEMAS["ScaledObject"])


def test_no_secret_resource_or_secret_value_is_rendered() -> None:
    """The manifests reference the credentials Secret by name only and never carry a Secret."""
    for target in TARGETS:
        assert all(doc["kind"] != "Secret" for doc in render(target))
        for env in container(target)["env"]:
            if env["name"] in SECRET_ENV:
                assert "value" not in env
                ref = {"name": SECRET_NAME, "key": env["name"]}
                if env["name"] in OPTIONAL_SECRET_ENV:
                    ref["optional"] = True
                assert env["valueFrom"]["secretKeyRef"] == ref


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("target", TARGETS)
def test_every_configmap_key_is_a_settings_field(target: str) -> None:
    """Each ConfigMap key is IOB_ plus the upper-cased name of a field of Settings."""
    unknown = {key for key in config(target) if setting_name(key) not in Settings.model_fields}
    assert unknown == set()


@pytest.mark.parametrize("target", TARGETS)
def test_configmap_values_are_valid_settings(target: str) -> None:
    """Settings accepts the ConfigMap's values (types, ranges and literals)."""
    values = {setting_name(key): value for key, value in config(target).items()}
    settings = Settings.model_validate(values)
    assert settings.log_format == "json"


@pytest.mark.parametrize("target", TARGETS)
def test_secrets_come_from_the_secret_and_never_from_the_configmap(target: str) -> None:
    """SecretStr settings and the client ids are set from secretKeyRef, not the ConfigMap."""
    secret_fields = {
        name
        for name, field in Settings.model_fields.items()
        if SecretStr in (getattr(field.annotation, "__args__", ()) or (field.annotation,))
    }
    assert {setting_name(env) for env in SECRET_ENV} >= secret_fields
    assert set(config(target)) & SECRET_ENV == set()
    from_secret = {
        env["name"]
        for env in container(target)["env"]
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert from_secret == SECRET_ENV


@pytest.mark.parametrize("target", TARGETS)
def test_every_deployment_env_name_is_a_settings_field(target: str) -> None:
    """The container's own env entries are IOB_ settings too."""
    for env in container(target)["env"]:
        assert setting_name(env["name"]) in Settings.model_fields


@pytest.mark.parametrize("target", OVERLAYS)
def test_overlays_select_their_io_environment_namespace_and_image(target: str) -> None:
    """Each overlay sets IOB_IO_ENVIRONMENT, the namespace of every object and a pinned image."""
    namespace, environment = OVERLAYS[target]
    assert config(target)["IOB_IO_ENVIRONMENT"] == environment
    for doc in render(target):
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == namespace
            assert doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert doc["metadata"]["namespace"] == namespace, doc["kind"]
    image = container(target)["image"]
    assert ":" in image
    assert not image.endswith(":latest")


@pytest.mark.parametrize("target", OVERLAYS)
def test_overlays_scope_the_metrics_absent_alert_to_their_namespace(target: str) -> None:
    """absent() in each overlay selects the overlay's namespace and still parses."""
    namespace, _ = OVERLAYS[target]
    rules = one(target, "PrometheusRule")["spec"]["groups"][0]["rules"]
    (absent,) = [rule for rule in rules if rule["alert"] == "IoBridgeMetricsAbsent"]
    assert f'namespace="{namespace}"' in absent["expr"]
    promql_parser.parse(absent["expr"])


def test_the_grafana_dashboard_configmap_carries_the_dashboard_file() -> None:
    """The dashboard ConfigMap has the sidecar label and the JSON of deploy/k8s/dashboards."""
    dashboard = one("base", "ConfigMap", "io-bridge-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    expected = json.loads((K8S / "dashboards" / "io-bridge.json").read_text())
    assert json.loads(dashboard["data"]["io-bridge.json"]) == expected


# ---------------------------------------------------------------- Deployment


@pytest.mark.parametrize("target", TARGETS)
def test_the_pod_runs_non_root_read_only_without_capabilities(target: str) -> None:
    """runAsNonRoot, UID 10001, read-only root, no privilege escalation, drop ALL, seccomp."""
    pod = one(target, "Deployment")["spec"]["template"]["spec"]
    main = container(target)
    pod_sc, sc = pod["securityContext"], main["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert pod["automountServiceAccountToken"] is False
    tmp = [m for m in main["volumeMounts"] if m["mountPath"] == "/tmp"]  # noqa: S108
    assert len(tmp) == 1
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[tmp[0]["name"]]


@pytest.mark.parametrize("target", TARGETS)
def test_the_grace_period_outlasts_the_service_shutdown_grace(target: str) -> None:
    """terminationGracePeriodSeconds exceeds IOB_SHUTDOWN_GRACE_SECONDS (default and configured)."""
    grace = one(target, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    default = Settings.model_fields["shutdown_grace_seconds"].default
    configured = float(config(target).get("IOB_SHUTDOWN_GRACE_SECONDS", default))
    assert grace > default
    assert grace > configured


@pytest.mark.parametrize("target", TARGETS)
def test_probes_and_ports_match_the_service_http_port(target: str) -> None:
    """Liveness GET /healthz and readiness GET /readyz on the port named http (IOB_HTTP_PORT)."""
    main = container(target)
    port = int(config(target).get("IOB_HTTP_PORT", Settings.model_fields["http_port"].default))
    assert port == Settings.model_fields["http_port"].default
    assert main["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
    service = one(target, "Service")
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", port, "http")
    ]
    (endpoint,) = one(target, "ServiceMonitor")["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")


@pytest.mark.parametrize("target", TARGETS)
def test_resources_have_requests_and_limits(target: str) -> None:
    """The container declares cpu and memory requests and limits."""
    resources = container(target)["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}


@pytest.mark.parametrize("target", TARGETS)
def test_selectors_select_the_deployment_pods(target: str) -> None:
    """Service, PDB, NetworkPolicy, topology spread and ServiceMonitor select the io-bridge pods."""
    deployment = one(target, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pod = deployment["spec"]["template"]["spec"]
    assert labels_match(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    assert labels_match(one(target, "Service")["spec"]["selector"], pod_labels)
    pdb = one(target, "PodDisruptionBudget")["spec"]
    assert labels_match(pdb["selector"]["matchLabels"], pod_labels)
    netpol = one(target, "NetworkPolicy")["spec"]
    assert labels_match(netpol["podSelector"]["matchLabels"], pod_labels)
    assert pod["topologySpreadConstraints"]
    for constraint in pod["topologySpreadConstraints"]:
        assert labels_match(constraint["labelSelector"]["matchLabels"], pod_labels)
    monitor = one(target, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    assert labels_match(monitor, one(target, "Service")["metadata"]["labels"])
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"


@pytest.mark.parametrize("target", TARGETS)
def test_network_policy_admits_only_monitoring_on_the_metrics_port(target: str) -> None:
    """Ingress only from the monitoring namespace to 8000; egress to DNS, Kafka and HTTPS."""
    spec = one(target, "NetworkPolicy")["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    egress_ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
    assert {53, 443, 9092} <= egress_ports


# ---------------------------------------------------------------- KEDA


@pytest.mark.parametrize("target", TARGETS)
def test_keda_never_scales_beyond_the_documented_input_partitions(target: str) -> None:
    """1 <= minReplicaCount <= maxReplicaCount <= documented partitions == IOB_TOPIC_PARTITIONS."""
    scaled = one(target, "ScaledObject")
    partitions = int(scaled["metadata"]["annotations"]["io-bridge.io/input-partitions"])
    spec = scaled["spec"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    assert int(config(target)["IOB_TOPIC_PARTITIONS"]) == partitions


@pytest.mark.parametrize("target", TARGETS)
def test_keda_watches_the_lag_of_the_service_consumer_group(target: str) -> None:
    """The kafka trigger uses the service's group, input topic and brokers, with KEDA's auth."""
    scaled = one(target, "ScaledObject")["spec"]
    settings = config(target)
    assert scaled["scaleTargetRef"]["name"] == one(target, "Deployment")["metadata"]["name"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert metadata["consumerGroup"] == settings["IOB_GROUP_ID"] == "io-bridge"
    assert metadata["topic"] == settings["IOB_TOPIC_SALES_UPDATED"] == "erp.sales-updated.v1"
    assert metadata["bootstrapServers"] == settings["IOB_KAFKA_BOOTSTRAP_SERVERS"]
    assert metadata["allowIdleConsumers"] == "false"
    assert int(metadata["lagThreshold"]) > 0
    auth = one(target, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert refs["password"]["key"] == "IOB_KAFKA_SASL_PASSWORD"
    assert {ref["name"] for ref in refs.values()} == {SECRET_NAME}
