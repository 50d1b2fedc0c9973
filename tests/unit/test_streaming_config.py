"""Configuration of the real-time scoring engine (configs/streaming.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from haste.settings import Settings, get_settings
from streaming.config import (
    STREAMING_YAML,
    BrokerConfig,
    ScoringConfig,
    StreamingConfig,
    WebhookConfig,
    load_streaming_config,
)


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "streaming.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _repo_raw() -> dict:
    return yaml.safe_load(STREAMING_YAML.read_text())


def test_the_repository_config_loads_with_its_documented_values() -> None:
    config = load_streaming_config(namespace="t")
    assert config.namespace == "t"
    assert config.broker.partitions == 4
    assert config.broker.publish_timeout_s == 10.0
    assert config.consumers.max_batch == 256
    assert config.scoring.model_name == "lead_scoring_crm"
    assert config.scoring.bands == {"hot": 70, "warm": 40, "cold": 0}
    assert config.scoring.reasons == 3
    assert config.webhooks == WebhookConfig(
        max_attempts=6, backoff_s=1.0, backoff_max_s=60.0, timeout_s=5.0
    )


def test_the_namespace_defaults_to_the_platform_setting(
    isolated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASTE_STREAM_NAMESPACE", "from_env")
    get_settings.cache_clear()
    assert load_streaming_config().namespace == "from_env"


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_streaming_config(path, namespace="x") == StreamingConfig(namespace="x")


@pytest.mark.parametrize(
    ("section", "key"),
    [(None, "brokers"), ("broker", "partition"), ("scoring", "band"), ("webhooks", "retries")],
)
def test_an_unknown_key_is_an_error(tmp_path: Path, section: str | None, key: str) -> None:
    raw = _repo_raw()
    (raw if section is None else raw[section])[key] = 1
    with pytest.raises(ValidationError) as error:
        load_streaming_config(_write(tmp_path, raw), namespace="t")
    assert error.value.errors()[0]["type"] == "extra_forbidden"
    assert error.value.errors()[0]["loc"][-1] == key


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("broker", "partitions", 0),
        ("broker", "partitions", 65),
        ("broker", "kind", "kafka"),
        ("consumers", "max_batch", 0),
        ("scoring", "reasons", 11),
        ("webhooks", "backoff_s", 0),
    ],
)
def test_out_of_range_values_are_errors(
    tmp_path: Path, section: str, key: str, value: object
) -> None:
    raw = _repo_raw()
    raw[section][key] = value
    with pytest.raises(ValidationError):
        load_streaming_config(_write(tmp_path, raw), namespace="t")


def test_the_config_is_frozen() -> None:
    config = load_streaming_config(namespace="t")
    with pytest.raises(ValidationError):
        config.namespace = "other"  # type: ignore[misc]


# --- bands -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ({"hot": 70, "warm": 40}, "one of them 0"),
        ({"hot": 40, "warm": 40, "cold": 0}, "distinct thresholds"),
        ({"hot": 101, "cold": 0}, "scores in 0..100"),
        ({"hot": 70, "cold": 0, "below": -5}, "scores in 0..100"),
    ],
)
def test_bad_bands_are_refused(bands: dict[str, int], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScoringConfig(bands=bands)


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "cold"), (39, "cold"), (40, "warm"), (69, "warm"), (70, "hot"), (100, "hot")],
)
def test_band_of_takes_the_highest_threshold_reached(score: int, band: str) -> None:
    assert load_streaming_config(namespace="t").scoring.band_of(score) == band


def test_band_of_does_not_depend_on_the_order_of_the_bands() -> None:
    scoring = ScoringConfig(bands={"cold": 0, "hot": 80, "lukewarm": 20, "warm": 50})
    assert [scoring.band_of(s) for s in (5, 20, 49, 50, 79, 80)] == [
        "cold",
        "lukewarm",
        "lukewarm",
        "warm",
        "warm",
        "hot",
    ]


# --- webhooks backoff --------------------------------------------------------------------------


def test_backoff_doubles_per_failed_attempt_up_to_the_cap() -> None:
    webhooks = WebhookConfig(backoff_s=1.0, backoff_max_s=60.0)
    assert [webhooks.backoff(n) for n in range(0, 9)] == [
        1.0,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        60.0,
        60.0,
    ]


def test_backoff_cap_applies_to_the_first_wait_too() -> None:
    assert WebhookConfig(backoff_s=5.0, backoff_max_s=3.0).backoff(1) == 3.0
    assert WebhookConfig(backoff_s=0.5, backoff_max_s=60.0).backoff(100) == 60.0


# --- names -------------------------------------------------------------------------------------


def test_names_are_prefixed_with_the_namespace() -> None:
    config = load_streaming_config(namespace="t")
    assert config.name(config.broker.events_exchange) == "t.events"
    assert config.name(config.broker.dead_letter_queue) == "t.events.dlq"
    assert config.name(config.broker.changes_exchange) == "t.score_changes"


def test_partition_queues_are_one_per_partition_in_order() -> None:
    config = StreamingConfig(namespace="ns1", broker=BrokerConfig(partitions=3))
    assert config.partition_queue(2) == "ns1.events.2"
    assert config.partition_queues() == ["ns1.events.0", "ns1.events.1", "ns1.events.2"]


def test_two_namespaces_share_no_queue_name() -> None:
    one = load_streaming_config(namespace="a")
    two = load_streaming_config(namespace="b")
    assert not set(one.partition_queues()) & set(two.partition_queues())
    assert len(one.partition_queues()) == one.broker.partitions
