"""docker-compose.yml and deploy/k8s describe the suite as it is: every service, its migration
step, probes, health checks, settings the services accept, and nothing left out of kustomize.

Offline only: YAML is parsed with PyYAML, Kubernetes resources are checked against the API's
JSON Schemas shipped in `kubernetes_validate`, and the kustomizations are rendered with
`kubectl kustomize` (no cluster needed).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices

from chassis.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
POSTGRES_INIT = ROOT / "deploy" / "postgres" / "init-service-databases.sh"
COLLECTOR_CONFIG = ROOT / "deploy" / "otel" / "collector.yaml"
K8S = ROOT / "deploy" / "k8s"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
KUBERNETES_VERSION = "1.32"
APP_UID = 10001  # the image's user (deploy/service.Dockerfile.in)
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the images bind, inside their network


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    owns_database: bool

    @property
    def module(self) -> str:
        return f"{self.name}_service"

    @property
    def prefix(self) -> str:
        return f"{self.name.upper()}_"

    @property
    def database_variable(self) -> str:
        return f"{self.prefix}DATABASE_URL"

    def settings_class(self) -> type[ServiceSettings]:
        config = importlib.import_module(f"{self.module}.config")
        cls: type[ServiceSettings] = getattr(config, f"{self.name.capitalize()}Settings")
        return cls


SUITE = (
    Service("catalog", 8001, owns_database=True),
    Service("order", 8002, owns_database=True),
    Service("inventory", 8003, owns_database=True),
    Service("payment", 8004, owns_database=True),
    Service("membership", 8005, owns_database=True),
    Service("notification", 8006, owns_database=True),
    Service("analytics", 8007, owns_database=True),
    Service("gateway", 8000, owns_database=False),
)
DATABASE_OWNERS = tuple(s for s in SUITE if s.owns_database)
INFRASTRUCTURE = ("kafka", "postgres", "redis")
# The one-shot that applies shared_events.topics (compose service and Kubernetes Job).
TOPICS_STEP = "kafka-topics"
TOPICS_COMMAND = ["python", "-m", "chassis.topics", "apply"]


def service_ids(services: tuple[Service, ...]) -> list[str]:
    return [s.name for s in services]


def known_env_names(cls: type[ServiceSettings]) -> set[str]:
    """Every environment variable a settings class reads."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def settings_from(service: Service, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's settings built from exactly `env` (nothing from the test's environment)."""
    cls = service.settings_class()
    for name in known_env_names(cls) | set(os.environ):
        if name in known_env_names(cls):
            monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def test_the_suite_table_matches_the_services_folder() -> None:
    folders = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    assert folders == {s.name for s in SUITE}


# ---- docker-compose.yml ----------------------------------------------------------------------

INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: Any) -> str:
    """Compose's `${NAME:-default}` with nothing set: the default (the stack as committed)."""
    return INTERPOLATION.sub(lambda m: m.group("default") or "", str(value)).replace("$$", "$")


@functools.cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def compose_service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    service: dict[str, Any] = services[name]
    return service


def compose_env(name: str) -> dict[str, str]:
    environment = compose_service(name).get("environment", {})
    assert isinstance(environment, dict), f"{name}: write environment as a mapping"
    return {key: interpolate(value) for key, value in environment.items()}


def is_one_shot(name: str) -> bool:
    return compose_service(name).get("restart") == "no"


@pytest.mark.parametrize("service", SUITE, ids=service_ids(SUITE))
def test_compose_builds_each_service_from_its_own_dockerfile(service: Service) -> None:
    build = compose_service(service.name).get("build")
    assert isinstance(build, dict), f"{service.name}: no build section"
    assert build.get("context") == "."
    assert build.get("dockerfile") == f"services/{service.name}/Dockerfile"
    assert (ROOT / build["dockerfile"]).is_file()


def test_compose_one_shots_are_the_migrations_the_topics_and_the_probe_copy() -> None:
    one_shots = {name for name in compose()["services"] if is_one_shot(name)}
    assert one_shots == {f"{s.name}-migrate" for s in DATABASE_OWNERS} | {
        "probe-tools",
        TOPICS_STEP,
    }
    # `up --wait` takes a one-shot's exit 0 as success only when a service waits for it so.
    adopted = {
        target
        for service in compose()["services"].values()
        for target, rule in (service.get("depends_on") or {}).items()
        if rule["condition"] == "service_completed_successfully"
    }
    assert one_shots <= adopted, f"nothing waits for {sorted(one_shots - adopted)}"


def test_compose_every_long_running_container_has_a_healthcheck() -> None:
    for name, service in compose()["services"].items():
        if is_one_shot(name):
            continue
        healthcheck = service.get("healthcheck") or {}
        assert not healthcheck.get("disable"), f"{name}: health check disabled"
        assert healthcheck.get("test"), f"{name}: no health check"


def test_compose_service_healthchecks_probe_their_own_readyz() -> None:
    for service in SUITE:
        check = compose_service(service.name)["healthcheck"]["test"]
        assert "HEALTHCHECK_URL" in " ".join(check), service.name
        url = compose_env(service.name)["HEALTHCHECK_URL"]
        assert url == f"http://127.0.0.1:{service.port}/readyz", service.name


@pytest.mark.parametrize("service", DATABASE_OWNERS, ids=service_ids(DATABASE_OWNERS))
def test_compose_migration_runs_first_as_its_own_step(service: Service) -> None:
    migrate = compose_service(f"{service.name}-migrate")
    serving = compose_service(service.name)
    assert migrate["command"] == ["python", "-m", service.module, "migrate"]
    assert migrate["build"] == serving["build"]
    assert migrate["image"] == serving["image"]
    assert (
        compose_env(f"{service.name}-migrate")[service.database_variable]
        == (compose_env(service.name)[service.database_variable])
    )
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    dependency = serving["depends_on"][f"{service.name}-migrate"]
    assert dependency["condition"] == "service_completed_successfully"


def test_compose_gateway_has_no_migration_and_waits_for_the_services() -> None:
    assert "gateway-migrate" not in compose()["services"]
    depends_on = compose_service("gateway")["depends_on"]
    for service in SUITE:
        if service.name != "gateway":
            assert depends_on[service.name]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", DATABASE_OWNERS, ids=service_ids(DATABASE_OWNERS))
def test_compose_services_wait_for_healthy_infrastructure(service: Service) -> None:
    depends_on = compose_service(service.name)["depends_on"]
    for infrastructure in INFRASTRUCTURE:
        assert depends_on[infrastructure]["condition"] == "service_healthy", infrastructure
    # The topics exist as declared before any service produces or consumes.
    assert depends_on[TOPICS_STEP]["condition"] == "service_completed_successfully"


def test_compose_topics_step_applies_the_declared_topics_once_kafka_is_up() -> None:
    step = compose_service(TOPICS_STEP)
    assert step["command"] == TOPICS_COMMAND
    assert step["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    # A service image (each carries the chassis), with the suite's broker settings.
    assert step["image"] == compose_service("catalog")["image"]
    assert compose_env(TOPICS_STEP)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert step["read_only"] is True


def test_compose_healthy_dependencies_have_healthchecks() -> None:
    for name, service in compose()["services"].items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in compose()["services"], f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert compose_service(target).get("healthcheck"), f"{name} -> {target}"
            if rule["condition"] == "service_completed_successfully":
                assert is_one_shot(target), f"{name} -> {target}"


@pytest.mark.parametrize("service", SUITE, ids=service_ids(SUITE))
def test_compose_suite_settings(service: Service) -> None:
    env = compose_env(service.name)
    assert env["KAFKA_IDEMPOTENT_PRODUCER"] == "true"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"
    assert urlsplit(env["JWKS_URL"]).hostname == "membership"
    otlp = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert (otlp.hostname, otlp.port) == ("otel-collector", 4318)
    # The image binds 0.0.0.0; compose must not narrow it to loopback.
    assert env.get(f"{service.prefix}HOST", ALL_INTERFACES) == ALL_INTERFACES
    dockerfile = (ROOT / "services" / service.name / "Dockerfile").read_text()
    assert f"{service.prefix}HOST={ALL_INTERFACES}" in dockerfile


@pytest.mark.parametrize("service", SUITE, ids=service_ids(SUITE))
def test_compose_environment_is_read_by_the_service(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = compose_env(service.name)
    unknown = set(env) - known_env_names(service.settings_class()) - {"HEALTHCHECK_URL"}
    assert not unknown, f"{service.name} reads no such setting: {sorted(unknown)}"
    settings = settings_from(service, env, monkeypatch)
    assert settings.kafka_idempotent_producer is True
    if service.owns_database:
        assert settings.database_url.startswith("postgresql+asyncpg://")


def test_compose_gateway_routes_to_services_by_compose_name() -> None:
    env = compose_env("gateway")
    for service in SUITE:
        if service.name != "gateway":
            url = urlsplit(env[f"GATEWAY_{service.name.upper()}_URL"])
            assert (url.hostname, url.port) == (service.name, service.port)


def test_compose_kafka_is_a_single_kraft_node() -> None:
    kafka = compose_service("kafka")
    assert kafka["image"].startswith("apache/kafka:")
    env = compose_env("kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    for name, service in compose()["services"].items():
        assert "zookeeper" not in name.lower()
        assert "zookeeper" not in str(service.get("image", "")).lower()
        assert not any("ZOOKEEPER" in key for key in service.get("environment", {})), name


def test_compose_publishes_only_the_gateway_and_the_uis_on_loopback() -> None:
    published = {
        name: [str(port) for port in service["ports"]]
        for name, service in compose()["services"].items()
        if service.get("ports")
    }
    assert set(published) <= {"gateway", "jaeger", "mailpit"}
    assert "127.0.0.1:8000:8000" in published["gateway"]
    assert "127.0.0.1:16686:16686" in published["jaeger"]
    for ports in published.values():
        assert all(port.startswith("127.0.0.1:") for port in ports), ports


def init_script_databases() -> list[str]:
    return re.findall(r"^create_service_database (\S+)\s*$", POSTGRES_INIT.read_text(), re.M)


def test_postgres_init_script_creates_one_database_per_service() -> None:
    assert sorted(init_script_databases()) == sorted(s.name for s in DATABASE_OWNERS)
    subprocess.run(["bash", "-n", str(POSTGRES_INIT)], check=True)  # noqa: S603, S607
    mounts = [str(volume) for volume in compose_service("postgres")["volumes"]]
    target = "./deploy/postgres/init-service-databases.sh:/docker-entrypoint-initdb.d/"
    assert any(mount.startswith(target) for mount in mounts), mounts


@pytest.mark.parametrize("service", DATABASE_OWNERS, ids=service_ids(DATABASE_OWNERS))
def test_compose_each_service_uses_its_own_database_and_role(service: Service) -> None:
    url = urlsplit(compose_env(service.name)[service.database_variable])
    assert url.scheme == "postgresql+asyncpg"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.username == service.name
    assert url.path == f"/{service.name}"
    assert url.password == compose_env("postgres")["SERVICE_DB_PASSWORD"]


def test_compose_secrets_are_marked_development_defaults() -> None:
    text = COMPOSE_FILE.read_text()
    defaults = {m.group("name"): m.group("default") for m in INTERPOLATION.finditer(text)}
    secret_names = [name for name in defaults if "PASSWORD" in name or "SECRET" in name]
    assert {"POSTGRES_PASSWORD", "SERVICE_DB_PASSWORD", "BOOTSTRAP_ADMIN_PASSWORD"} <= set(
        secret_names
    )
    for name in secret_names:
        assert (defaults[name] or "").startswith("dev-"), f"{name}: mark it as a dev default"
    # No password written out anywhere but as such a default.
    for line in (line for line in text.splitlines() if not line.lstrip().startswith("#")):
        if "PASSWORD" in line.split(":", 1)[0]:
            assert "${" in line, line
        if re.search(r"://[^/\s:]+:[^@\s]+@", line):
            assert "${SERVICE_DB_PASSWORD:-dev-" in line, line


def test_collector_receives_otlp_http_and_exports_to_jaeger() -> None:
    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http.endswith(":4318")
    traces = config["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"]
    (exporter,) = traces["exporters"]
    assert config["exporters"][exporter]["endpoint"].split(":")[0] == "jaeger"
    mounts = [str(volume) for volume in compose_service("otel-collector")["volumes"]]
    assert any(mount.startswith("./deploy/otel/collector.yaml:") for mount in mounts)
    assert "jaeger" in compose()["services"]


# ---- deploy/k8s ------------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def references(kustomization: Path) -> tuple[set[Path], set[Path]]:
    """(resource and generator files, patch files) that a kustomization names."""
    data = load_documents(kustomization)[0]
    here = kustomization.parent
    resources: set[Path] = set()
    for entry in data.get("resources", []) + data.get("components", []):
        path = (here / entry).resolve()
        assert path.exists(), f"{kustomization}: {entry} does not exist"
        if path.is_dir():
            assert (path / "kustomization.yaml").is_file(), f"{path} is no kustomization"
        else:
            resources.add(path)
    for generator in data.get("configMapGenerator", []) + data.get("secretGenerator", []):
        for entry in generator.get("files", []) + generator.get("envs", []):
            resources.add((here / entry.split("=")[-1]).resolve())
    patches = set()
    for patch in data.get("patches", []) + data.get("patchesStrategicMerge", []):
        path = patch.get("path") if isinstance(patch, dict) else patch
        if path:
            patches.add((here / path).resolve())
            assert (here / path).is_file(), f"{kustomization}: {path} does not exist"
    return resources, patches


def all_references() -> tuple[set[Path], set[Path]]:
    resources: set[Path] = set()
    patches: set[Path] = set()
    for kustomization in kustomizations():
        found_resources, found_patches = references(kustomization)
        resources |= found_resources
        patches |= found_patches
    return resources, patches


def overlays() -> list[Path]:
    return sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))


VALIDATED: set[str] = set()  # the base and its overlays share most resources


def validate(resource: dict[str, Any], where: str) -> None:
    key = json.dumps(resource, sort_keys=True)
    if key in VALIDATED:
        return
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{where}: {resource['kind']}/{resource['metadata']['name']}: {path}: {exc}")
    VALIDATED.add(key)


def test_k8s_every_manifest_belongs_to_a_kustomization() -> None:
    resources, patches = all_references()
    manifests = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    orphans = manifests - resources - patches - {SECRET_EXAMPLE.resolve()}
    assert not orphans, f"listed by no kustomization: {sorted(map(str, orphans))}"
    assert {p.parent.name for p in kustomizations()} >= {"base", *(s.name for s in SUITE)}
    assert overlays(), "no overlay under deploy/k8s/overlays"


def test_k8s_every_manifest_file_validates() -> None:
    _, patches = all_references()
    for path in sorted(K8S.rglob("*.yaml")):
        documents = load_documents(path)
        assert documents, f"{path}: empty"
        if path.name == "kustomization.yaml":
            assert documents[0]["kind"] == "Kustomization"
        elif path.resolve() in patches:
            for document in documents:  # a fragment: only its identity is complete
                assert {"apiVersion", "kind", "metadata"} <= set(document), path
        else:
            for document in documents:
                validate(document, str(path.relative_to(ROOT)))


def test_k8s_secrets_are_not_committed() -> None:
    resources, _ = all_references()
    for path in resources:
        if path.suffix == ".yaml":
            kinds = {doc["kind"] for doc in load_documents(path)}
            assert "Secret" not in kinds, f"{path}: Secrets stay out of the kustomizations"
    for filled_in in ("deploy/k8s/secret.yaml", "deploy/k8s/secrets/membership.env"):
        ignored = subprocess.run(  # noqa: S603
            ["git", "check-ignore", "-q", filled_in],  # noqa: S607
            cwd=ROOT,
            check=False,
        )
        assert ignored.returncode == 0, f"{filled_in} must be gitignored"
    for document in load_documents(SECRET_EXAMPLE):
        for key, value in document.get("stringData", {}).items():
            assert "CHANGE-ME" in value, f"secret.example.yaml: {key} must be a placeholder"


kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not installed"
)


@functools.cache
def render(directory: Path) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(  # noqa: S603
        ["kubectl", "kustomize", str(directory)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def rendered_dirs() -> list[Path]:
    return [K8S / "base", *overlays()]


def find(resources: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{len(matches)} {kind} named {name}"
    return matches[0]


def container(pod: dict[str, Any], name: str, init: bool = False) -> dict[str, Any]:
    containers = pod.get("initContainers" if init else "containers", [])
    matches = [c for c in containers if c["name"] == name]
    assert len(matches) == 1, f"no {'init ' if init else ''}container {name!r}"
    return matches[0]


def env_sources(spec: dict[str, Any]) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """(ConfigMaps read with envFrom, env name -> valueFrom) of a container."""
    config_maps = {ref["configMapRef"]["name"] for ref in spec.get("envFrom", [])}
    value_from = {e["name"]: e["valueFrom"] for e in spec.get("env", []) if "valueFrom" in e}
    return config_maps, value_from


def relative(directory: Path) -> str:
    return str(directory.relative_to(K8S))


@kubectl
@pytest.mark.parametrize("directory", rendered_dirs(), ids=relative)
def test_k8s_rendered_resources_validate(directory: Path) -> None:
    resources = render(directory)
    assert resources
    for resource in resources:
        validate(resource, f"kubectl kustomize {relative(directory)}")
        assert resource["kind"] != "Secret"
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == "commerce"


@kubectl
@pytest.mark.parametrize("directory", rendered_dirs(), ids=relative)
@pytest.mark.parametrize("service", SUITE, ids=service_ids(SUITE))
def test_k8s_deployment(directory: Path, service: Service) -> None:
    deployment = find(render(directory), "Deployment", service.name)
    pod = deployment["spec"]["template"]["spec"]
    app = container(pod, "app")
    assert app["command"] == ["python", "-m", service.module, "serve"]
    port, *others = app["ports"]
    assert (port["name"], port["containerPort"]) == ("http", service.port)
    # The gateway alone has a second port: its metrics, kept off the storefront port.
    assert [(p["name"], p["containerPort"]) for p in others] == (
        [("metrics", 9100)] if service.name == "gateway" else []
    )
    assert app["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert app["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"

    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == APP_UID
    tmp = [v for v in pod["volumes"] if v["name"] == "tmp"]
    assert tmp and "emptyDir" in tmp[0]
    containers = [app, *pod.get("initContainers", [])]
    for each in containers:
        assert each["resources"]["requests"].keys() >= {"cpu", "memory"}, each["name"]
        assert each["resources"]["limits"].keys() >= {"cpu", "memory"}, each["name"]
        assert each["securityContext"]["readOnlyRootFilesystem"] is True, each["name"]
        assert each["securityContext"]["allowPrivilegeEscalation"] is False, each["name"]
        assert {"name": "tmp", "mountPath": "/tmp"} in each["volumeMounts"], each["name"]
        assert each.get("securityContext", {}).get("runAsUser", APP_UID) == APP_UID

    if service.owns_database:
        migrate = container(pod, "migrate", init=True)
        assert migrate["command"] == ["python", "-m", service.module, "migrate"]
        assert migrate["image"] == app["image"]
        assert env_sources(migrate) == env_sources(app), "migrate needs the same settings"
        _, value_from = env_sources(app)
        secret = value_from[service.database_variable]["secretKeyRef"]
        assert secret == {"name": f"{service.name}-secrets", "key": service.database_variable}
    else:
        assert not pod.get("initContainers"), f"{service.name} has no database to migrate"


@kubectl
@pytest.mark.parametrize("directory", rendered_dirs(), ids=relative)
@pytest.mark.parametrize("service", SUITE, ids=service_ids(SUITE))
def test_k8s_service_hpa_and_configmap_match_the_deployment(
    directory: Path, service: Service
) -> None:
    resources = render(directory)
    deployment = find(resources, "Deployment", service.name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    k8s_service = find(resources, "Service", service.name)
    selector = k8s_service["spec"]["selector"]
    assert selector.items() <= pod_labels.items()
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    (port,) = k8s_service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (service.port, "http")

    hpa = find(resources, "HorizontalPodAutoscaler", service.name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", service.name)
    assert 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]

    config_maps, _ = env_sources(container(deployment["spec"]["template"]["spec"], "app"))
    assert config_maps == {"suite-config", f"{service.name}-config"}
    for name in config_maps:
        find(resources, "ConfigMap", name)


def rendered_env(
    resources: tuple[dict[str, Any], ...], service: Service
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """A service container's environment: ConfigMap values, and what comes from Secrets."""
    deployment = find(resources, "Deployment", service.name)
    config_maps, value_from = env_sources(container(deployment["spec"]["template"]["spec"], "app"))
    env: dict[str, str] = {}
    for name in sorted(config_maps, key=lambda n: n != "suite-config"):  # service's own last
        env.update(find(resources, "ConfigMap", name).get("data", {}))
    return env, value_from


def example_secrets() -> dict[str, dict[str, str]]:
    return {
        doc["metadata"]["name"]: doc.get("stringData", {}) for doc in load_documents(SECRET_EXAMPLE)
    }


@kubectl
@pytest.mark.parametrize("directory", rendered_dirs(), ids=relative)
@pytest.mark.parametrize("service", SUITE, ids=service_ids(SUITE))
def test_k8s_production_settings_start(
    directory: Path, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMaps plus the secret keys of secret.example.yaml are accepted by the service's
    settings with ENVIRONMENT=production (which refuses development defaults)."""
    env, value_from = rendered_env(render(directory), service)
    assert env["ENVIRONMENT"] == "production"
    assert env["KAFKA_IDEMPOTENT_PRODUCER"] == "true"
    secrets = example_secrets()
    for name, source in value_from.items():
        ref = source["secretKeyRef"]
        assert ref["name"] in secrets, f"{name}: Secret {ref['name']} missing from the example"
        if ref["key"] in secrets[ref["name"]]:
            env[name] = secrets[ref["name"]][ref["key"]]
        else:
            assert ref.get("optional") is True, f"{name}: key missing from the example"

    unknown = set(env) - known_env_names(service.settings_class())
    assert not unknown, f"{service.name} reads no such setting: {sorted(unknown)}"
    settings = settings_from(service, env, monkeypatch)
    assert settings.is_production


SECRET_NAME = re.compile(r"PASSWORD|PEM|SECRET|TOKEN")
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^@\s]+@")


@kubectl
@pytest.mark.parametrize("directory", rendered_dirs(), ids=relative)
def test_k8s_configmaps_hold_no_secrets(directory: Path) -> None:
    config_maps = [r for r in render(directory) if r["kind"] == "ConfigMap"]
    assert config_maps
    for config_map in config_maps:
        for key, value in config_map.get("data", {}).items():
            where = f"{config_map['metadata']['name']}: {key}"
            assert not SECRET_NAME.search(key), f"{where} is a secret: read it from a Secret"
            assert not CREDENTIALS_IN_URL.search(value), f"{where} carries credentials"


@kubectl
@pytest.mark.parametrize("directory", overlays(), ids=relative)
def test_k8s_overlay_pins_released_images_and_replicas(directory: Path) -> None:
    resources = render(directory)
    for service in SUITE:
        deployment = find(resources, "Deployment", service.name)
        image = container(deployment["spec"]["template"]["spec"], "app")["image"]
        name, _, tag = image.rpartition(":")
        assert name.endswith(f"/{service.name}") and "/" in name.removesuffix(service.name)
        assert tag and tag not in {"dev", "latest"}, image
        assert find(resources, "HorizontalPodAutoscaler", service.name)["spec"]["minReplicas"] >= 2


@kubectl
@pytest.mark.parametrize("directory", rendered_dirs(), ids=relative)
def test_k8s_topics_job_applies_the_declared_topics(directory: Path) -> None:
    resources = render(directory)
    job = find(resources, "Job", TOPICS_STEP)
    # Deleted once finished, so the next release's `kubectl apply -k` runs it again.
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in {"OnFailure", "Never"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == APP_UID
    apply = container(pod, "apply")
    assert apply["command"] == TOPICS_COMMAND
    # The catalog's image, as the overlay pins it: the same release as the services.
    catalog = container(find(resources, "Deployment", "catalog")["spec"]["template"]["spec"], "app")
    assert apply["image"] == catalog["image"]
    config_maps, value_from = env_sources(apply)
    assert config_maps == {"suite-config"} and not value_from  # the broker address, no secret
    assert "KAFKA_BOOTSTRAP_SERVERS" in find(resources, "ConfigMap", "suite-config")["data"]
    assert apply["securityContext"]["readOnlyRootFilesystem"] is True
    assert apply["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"name": "tmp", "mountPath": "/tmp"} in apply["volumeMounts"]
    assert apply["resources"]["limits"].keys() >= {"cpu", "memory"}
