"""The models of a batch scoring run, loaded from the MLflow registry (driver side only).

A run scores with the ``champion`` of a registered model and, when one is registered, its
``challenger`` (for the A/B comparison); or with explicit model URIs
(``models:/lead_scoring_crm@champion``, ``models:/lead_scoring_crm/3``). The loaded pipelines
are pickled to the workers (:class:`training.batch_predict.ModelPayload`), so workers never
need to reach the registry. Call :func:`training.registry.configure_mlflow` first.
"""

from __future__ import annotations

import logging
import re

from training.batch_predict import BatchModel
from training.registry import CHALLENGER, CHAMPION, NoChampionError

logger = logging.getLogger(__name__)

_URI = re.compile(
    r"^(?:models:/)?(?P<name>[A-Za-z0-9_.-]+)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))?$"
)


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """Split ``[models:/]name[@alias|/version]`` into (name, alias, version).

    A bare name means its champion.

    Raises:
        ValueError: When the URI has another form.
    """
    match = _URI.match(uri.strip())
    if match is None:
        raise ValueError(
            f"model {uri!r}: expected models:/<name>@<alias>, models:/<name>/<version> or a name"
        )
    alias, version = match["alias"], match["version"]
    if alias is None and version is None:
        alias = CHAMPION
    return match["name"], alias, version


def load_batch_model(uri: str, variant: str | None = None) -> BatchModel:
    """Load one registered version by alias or number.

    Args:
        uri: ``models:/<name>@<alias>``, ``models:/<name>/<version>`` or ``<name>``.
        variant: Label stored with its predictions (default: the alias, or the alias the
            version holds, else ``v<version>``).

    Raises:
        NoChampionError: When no version holds the alias.
    """
    import mlflow
    from mlflow import MlflowClient

    from training.registry import get_alias_version

    name, alias, version = parse_model_uri(uri)
    client = MlflowClient()
    if alias is not None:
        record = get_alias_version(client, name, alias)
        if record is None:
            raise NoChampionError(
                f"no {alias!r} version of {name!r} in the registry; train one first "
                f"(`haste train --model {name}`)"
            )
    else:
        record = client.get_model_version(name, str(version))
    held = list(getattr(record, "aliases", []) or [])
    label = variant or alias or (held[0] if held else f"v{record.version}")
    pipeline = mlflow.sklearn.load_model(f"models:/{name}/{record.version}")
    return BatchModel(name=name, version=str(record.version), variant=label, pipeline=pipeline)


def load_run_models(
    model_name: str, version: str | None = None, challenger: bool = True
) -> list[BatchModel]:
    """Return the run's models: the champion (or ``version``), then the challenger if any.

    Args:
        model_name: Registered model name.
        version: Score this version instead of the champion.
        challenger: Also score the ``challenger`` when one is registered (and differs).

    Raises:
        NoChampionError: When the model has no champion (and no version was given).
    """
    primary_uri = (
        f"models:/{model_name}/{version}" if version else f"models:/{model_name}@{CHAMPION}"
    )
    models = [load_batch_model(primary_uri)]
    if challenger:
        try:
            other = load_batch_model(f"models:/{model_name}@{CHALLENGER}", CHALLENGER)
        except NoChampionError:
            logger.info("%s has no challenger: scoring %s only", model_name, models[0].variant)
        else:
            if other.version != models[0].version:
                models.append(other)
    return models
