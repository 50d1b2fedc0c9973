import importlib
import uuid

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema
from sqlalchemy import select

from haste.db.migrate import upgrade_database
from haste.db.models import AIFeatureFlag
from haste.db.session import session_scope
from haste.settings import CONFIG_DIR, Settings
from serving.config import ServeConfig
from serving.runner import code_version, load_deployment_options
from training.ab_routing import (
    bucket_of,
    choose_variant,
    flag_name,
    load_rollouts,
    parse_rollouts,
    store_rollouts,
)

IDS = [str(uuid.UUID(int=i * 7919 + 13)) for i in range(10_000)]


def test_bucket_is_stable_and_salted() -> None:
    assert bucket_of("c-1", "lead_scoring") == bucket_of("c-1", "lead_scoring")
    buckets = {bucket_of(i, "lead_scoring") for i in IDS[:500]}
    assert min(buckets) == 0 and max(buckets) == 99
    differs = sum(bucket_of(i, "a") != bucket_of(i, "b") for i in IDS[:200])
    assert differs > 150  # another model gets an independent split


@pytest.mark.parametrize("rollout", [0, 10, 30, 50, 100])
def test_split_proportions_match_the_rollout(rollout: int) -> None:
    share = sum(choose_variant(i, "lead_scoring", rollout) == "challenger" for i in IDS) / len(IDS)
    assert share == pytest.approx(rollout / 100, abs=0.02)


def test_assignment_is_sticky_and_monotone_in_the_rollout() -> None:
    for subject in IDS[:300]:
        first = choose_variant(subject, "lead_scoring", 30)
        assert all(choose_variant(subject, "lead_scoring", 30) == first for _ in range(3))
        if first == "challenger":  # raising the rollout never moves a challenger user back
            assert choose_variant(subject, "lead_scoring", 60) == "challenger"


def test_invalid_rollouts_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="0, 100"):
        choose_variant("x", "m", 101)
    with pytest.raises(ValueError, match="lead_scoring"):
        parse_rollouts({"ab_rollout": {"lead_scoring": "half"}})
    assert parse_rollouts({}) == {}


def test_rollouts_are_recorded_as_feature_flags(isolated_settings: Settings) -> None:
    upgrade_database(isolated_settings.database_url)
    store_rollouts(isolated_settings.database_url, {"lead_scoring": 25, "churn": 0})
    store_rollouts(isolated_settings.database_url, {"lead_scoring": 40})
    with session_scope(isolated_settings.database_url) as session:
        flags = {f.feature_name: f for f in session.scalars(select(AIFeatureFlag))}
    assert flags[flag_name("lead_scoring")].rollout_percentage == 40
    assert flags[flag_name("lead_scoring")].is_enabled
    assert not flags[flag_name("churn")].is_enabled


def test_serve_config_file_is_valid_and_importable() -> None:
    raw = yaml.safe_load((CONFIG_DIR / "serve.yaml").read_text())
    schema = ServeDeploySchema.model_validate(raw)
    (app,) = schema.applications
    module, attribute = app.import_path.split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    options = load_deployment_options()
    assert options["ray_actor_options"]["num_gpus"] == 0
    assert options["autoscaling_config"]["min_replicas"] >= 1
    assert parse_rollouts(options["user_config"])


def test_models_left_out_of_a_new_split_get_no_challenger_traffic(
    isolated_settings: Settings,
) -> None:
    url = isolated_settings.database_url
    upgrade_database(url)
    store_rollouts(url, {"lead_scoring": 50, "churn": 20}, generation=1)
    assert load_rollouts(url) == ({"lead_scoring": 50, "churn": 20}, 1)
    store_rollouts(url, {}, generation=2)  # the recorded split follows the live one
    assert load_rollouts(url) == ({"lead_scoring": 0, "churn": 0}, 2)
    with session_scope(url) as session:
        assert not any(f.is_enabled for f in session.scalars(select(AIFeatureFlag)))


def test_champion_and_challenger_are_separate_model_deployments() -> None:
    champion = load_deployment_options(deployment="ChampionModels")
    challenger = load_deployment_options(deployment="ChallengerModels")
    for options in (champion, challenger):
        assert options["user_config"]["models_generation"] == 1
        assert "num_gpus" in options["ray_actor_options"]
    # every deployment at its largest replica count fits the 2 CPUs of `haste serve`
    total = 0.0
    for name in ("AIGateway", "TextAI", "ChampionModels", "ChallengerModels"):
        options = load_deployment_options(deployment=name)
        replicas = options.get("autoscaling_config", {}).get("max_replicas", 0)
        total += options["ray_actor_options"]["num_cpus"] * max(
            replicas, options.get("num_replicas", 1)
        )
    assert total <= 2


def test_code_version_is_stable_and_follows_the_config() -> None:
    config = ServeConfig(
        tracking_uri="sqlite:///a.db", database_url="sqlite:///b.db", features_path="f"
    )
    again = ServeConfig(
        tracking_uri="sqlite:///a.db", database_url="sqlite:///b.db", features_path="f"
    )
    other = ServeConfig(
        tracking_uri="sqlite:///c.db", database_url="sqlite:///b.db", features_path="f"
    )
    assert code_version(config) == code_version(again)
    assert code_version(config) != code_version(other)
