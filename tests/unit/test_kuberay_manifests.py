"""The KubeRay manifests (deploy/kuberay) stay in step with the code and configs/serve.yaml."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import ray
import typer.main
import yaml

from haste.settings import CONFIG_DIR, PROJECT_ROOT

KUBERAY = PROJECT_ROOT / "deploy" / "kuberay"
#: What deploy/kuberay may change in a deployment of configs/serve.yaml (placement, scale).
CLUSTER_KEYS = {
    "autoscaling_config",
    "num_replicas",
    "max_replicas_per_node",
    "ray_actor_options",
    "graceful_shutdown_timeout_s",
}


def documents(name: str) -> list[dict[str, Any]]:
    with (KUBERAY / name).open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def cluster_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for path in sorted(KUBERAY.glob("ray*.yaml")):
        for doc in documents(path.name):
            spec = doc["spec"]
            specs.append((path.name, spec.get("rayClusterConfig") or spec.get("rayClusterSpec")))
    return specs


def group_resources(group: dict[str, Any]) -> set[str]:
    """Return the custom resources and ``GPU`` a head or worker group offers."""
    offered = set(yaml.safe_load(yaml.safe_load(group["rayStartParams"].get("resources", '"{}"'))))
    for container in group["template"]["spec"]["containers"]:
        if "nvidia.com/gpu" in container.get("resources", {}).get("limits", {}):
            offered.add("GPU")
    return offered


def test_every_cluster_runs_this_ray_with_token_auth() -> None:
    specs = cluster_specs()
    assert len(specs) == 4  # the service and three jobs
    for name, spec in specs:
        assert spec["rayVersion"] == ray.__version__, name
        assert spec["authOptions"] == {"mode": "token"}, name
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", name  # no work on it


def test_the_service_serves_configs_serve_yaml() -> None:
    from ray.serve.schema import ServeDeploySchema

    (service,) = documents("rayservice.yaml")
    served = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    with (CONFIG_DIR / "serve.yaml").open(encoding="utf-8") as handle:
        local = ServeDeploySchema.model_validate(yaml.safe_load(handle))
    (app,), (local_app,) = served.applications, local.applications
    assert (app.name, app.import_path, app.args) == (
        local_app.name,
        local_app.import_path,
        local_app.args,
    )
    ours = {d.name: d.model_dump(exclude_unset=True) for d in app.deployments}
    theirs = {d.name: d.model_dump(exclude_unset=True) for d in local_app.deployments}
    assert set(ours) == set(theirs)
    for name, options in ours.items():
        same = {k: v for k, v in options.items() if k not in CLUSTER_KEYS}
        assert same == {k: v for k, v in theirs[name].items() if k not in CLUSTER_KEYS}, name
    assert served.proxy_location == "EveryNode" and served.http_options.host == "0.0.0.0"


def test_every_deployment_fits_a_worker_group() -> None:
    from ray.serve.schema import ServeDeploySchema

    (service,) = documents("rayservice.yaml")
    spec = service["spec"]
    served = ServeDeploySchema.model_validate(yaml.safe_load(spec["serveConfigV2"]))
    groups = [group_resources(g) for g in spec["rayClusterConfig"]["workerGroupSpecs"]]
    for deployment in served.applications[0].deployments:
        options = deployment.ray_actor_options.model_dump(exclude_unset=True)
        needs = set(options.get("resources") or {})
        if options.get("num_gpus"):
            needs.add("GPU")
        assert any(needs <= offered for offered in groups), (deployment.name, needs)


@pytest.mark.parametrize("name", ["rayjob-batch-scoring.yaml", "rayjob-training.yaml"])
def test_jobs_run_existing_commands_on_existing_resources(name: str) -> None:
    from haste.cli.main import app

    commands = set(typer.main.get_command(app).commands)
    for job in documents(name):
        spec = job["spec"]
        words = shlex.split(spec["entrypoint"])
        assert words[0] == "haste" and words[1] in commands, spec["entrypoint"]
        offered = [group_resources(g) for g in spec["rayClusterSpec"]["workerGroupSpecs"]]
        needs = set(yaml.safe_load(spec.get("entrypointResources", "{}")))
        if spec.get("entrypointNumGpus"):
            needs.add("GPU")
        assert any(needs <= group for group in offered), (spec["entrypoint"], needs)


def test_the_image_installs_every_package() -> None:
    dockerfile = (KUBERAY / "Dockerfile").read_text(encoding="utf-8")
    copied = {line.split()[-2] for line in dockerfile.splitlines() if line.startswith("COPY")}
    packages = {p.name for p in PROJECT_ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages - {"tests"} <= copied, packages - copied
    assert "configs" in copied and Path(PROJECT_ROOT / "configs").is_dir()
