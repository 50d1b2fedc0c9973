"""Configuration of the real-time scoring engine: ``configs/streaming.yaml`` as typed models.

The broker URL and the namespace of the broker's names are platform settings
(:class:`haste.settings.Settings`: ``broker_url``, ``stream_namespace``); everything else is
here. :meth:`StreamingConfig.name` prefixes a configured name with the namespace, so two
platforms (or two test runs) can share one broker without sharing queues.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haste.settings import CONFIG_DIR

#: Default location of the engine's configuration.
STREAMING_YAML = CONFIG_DIR / "streaming.yaml"


class _Strict(BaseModel):
    """Unknown keys are errors (a typo in the YAML must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Strict):
    """Broker topology (names are suffixes of ``<namespace>.``)."""

    kind: Literal["rabbitmq"] = "rabbitmq"
    events_exchange: str = "events"
    partitions: int = Field(default=4, ge=1, le=64)
    dead_letter_exchange: str = "events.dlx"
    dead_letter_queue: str = "events.dlq"
    changes_exchange: str = "score_changes"
    webhook_queue: str = "webhooks"
    publish_timeout_s: float = Field(default=10.0, gt=0)


class ConsumerConfig(_Strict):
    """Rescoring consumers (their number: ``num_replicas`` of ``EventConsumer``, serve.yaml)."""

    prefetch: int = Field(default=512, ge=1, le=10_000)
    max_batch: int = Field(default=256, ge=1, le=5_000)
    max_wait_ms: float = Field(default=5.0, ge=0)
    standby_delay_s: float = Field(default=2.0, ge=0)


class ScoringConfig(_Strict):
    """What is rescored and how a change is told."""

    model_name: str = "lead_scoring_crm"
    service: str = "lead_scoring_v1"
    bands: dict[str, int] = Field(default_factory=lambda: {"hot": 70, "warm": 40, "cold": 0})
    reasons: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _check_bands(self) -> ScoringConfig:
        """Bands need distinct thresholds in 0..100, one of them 0."""
        values = list(self.bands.values())
        if len(set(values)) != len(values) or 0 not in values:
            raise ValueError("bands need distinct thresholds, one of them 0")
        if any(not 0 <= value <= 100 for value in values):
            raise ValueError("band thresholds are scores in 0..100")
        return self

    def band_of(self, score: int) -> str:
        """Return the band of a 0-100 score (the highest threshold it reaches)."""
        reached = [(lower, name) for name, lower in self.bands.items() if score >= lower]
        return max(reached)[1]


class WebhookConfig(_Strict):
    """Delivery of score changes to registered webhooks."""

    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0)

    def backoff(self, attempts: int) -> float:
        """Return the wait before the next attempt after ``attempts`` failed ones."""
        return min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s)


class StreamingConfig(_Strict):
    """The whole ``configs/streaming.yaml``, with the namespace of the broker's names."""

    namespace: str = "haste"
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    consumers: ConsumerConfig = Field(default_factory=ConsumerConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)

    def name(self, suffix: str) -> str:
        """Return a broker name in this namespace (``haste.events``)."""
        return f"{self.namespace}.{suffix}"

    def partition_queue(self, partition: int) -> str:
        """Return the name of one partition's quorum queue."""
        return self.name(f"{self.broker.events_exchange}.{partition}")

    def partition_queues(self) -> list[str]:
        """Return every partition queue, in partition order."""
        return [self.partition_queue(p) for p in range(self.broker.partitions)]


def load_streaming_config(
    path: Path | None = None, namespace: str | None = None
) -> StreamingConfig:
    """Read ``configs/streaming.yaml`` (or ``path``) and set the namespace.

    Args:
        path: YAML file (default :data:`STREAMING_YAML`).
        namespace: Prefix of the broker's names (default: the platform's ``stream_namespace``).

    Returns:
        The validated configuration.
    """
    if namespace is None:
        from haste.settings import get_settings

        namespace = get_settings().stream_namespace
    raw = yaml.safe_load(Path(path or STREAMING_YAML).read_text()) or {}
    if "namespace" in raw:
        raise ValueError("the namespace is a platform setting (stream_namespace), not a key here")
    return StreamingConfig(namespace=namespace, **raw)
