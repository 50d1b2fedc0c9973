"""Train the XGBoost candidate with Ray Train (data-parallel) and return an ordinary pipeline.

The generic training flow fits ``TabularEncoder -> XGBClassifier`` in process. With the config's
``train.backend: ray`` the same pipeline is fitted here instead:

1. the encoder is fitted in the driver (it only learns the column layout and frozen levels);
2. the encoded rows go into a Ray Dataset, categoricals as their frozen codes (plain floats
   travel through Arrow unchanged), with the label as one more column;
3. :class:`ray.train.xgboost.XGBoostTrainer` runs ``num_workers`` workers; each rebuilds the
   categoricals of its shard with the frozen levels, so XGBoost sees exactly the pandas frame
   the local fit sees, and ``xgboost.train`` builds one booster over all shards (histograms
   are all-reduced between workers);
4. the booster comes back through the run's checkpoint and is loaded into an
   ``XGBClassifier`` with the candidate's hyper-parameters.

The result is the same kind of object as the local fit (a fitted ``Pipeline([encode, model])``),
so calibration, SHAP, the fairness gate, MLflow registration and the serving fast path
(:class:`training.booster.BoosterScorer`) do not know where it was trained.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from distributed.ray_session import code_shipped_by_value, connected_ray, quiet_ray_data

if TYPE_CHECKING:
    import xgboost as xgb

logger = logging.getLogger(__name__)

#: The label's column in the Ray Dataset (no raw input column is named like this).
LABEL_COLUMN = "__label__"

#: ``fit(unfitted_pipeline, features, labels) -> fitted pipeline``: the hook of
#: ``training.train.fit_models`` (the local default is ``pipeline.fit(features, labels)``).
CandidateFitter = Callable[[Pipeline, pd.DataFrame, pd.Series], Pipeline]


@dataclass(frozen=True)
class RayTrainSettings:
    """Where and how wide the candidate is trained on Ray (the config's ``train.ray``).

    Attributes:
        num_workers: Ray Train workers (data-parallel shards of the training rows).
        cpus_per_worker: CPUs reserved by each worker, also its XGBoost thread count.
        resources_per_worker: Extra custom resources each worker needs, e.g. ``{"worker": 1}``
            to place the workers on the nodes that advertise a ``worker`` resource.
        address: Ray cluster to connect to when Ray is not initialised yet (None: the
            ``RAY_ADDRESS`` environment variable, else a local Ray started for the fit).
        storage_path: Where Ray Train writes the run's checkpoint; every node must reach it
            (None: a temporary folder of the driver, removed after the fit).
    """

    num_workers: int = 2
    cpus_per_worker: int = 1
    resources_per_worker: Mapping[str, float] = field(default_factory=dict)
    address: str | None = None
    storage_path: str | None = None

    def __post_init__(self) -> None:
        """Refuse settings no Ray cluster can satisfy."""
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {self.num_workers}")
        if self.cpus_per_worker < 1:
            raise ValueError(f"cpus_per_worker must be at least 1, got {self.cpus_per_worker}")

    @classmethod
    def from_section(cls, section: Any) -> RayTrainSettings:
        """Build the settings from the config's ``train.ray`` (pydantic model, dict or None)."""
        if section is None:
            return cls()
        values = section.model_dump() if hasattr(section, "model_dump") else dict(section)
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        return cls(**known)

    def worker_resources(self) -> dict[str, float]:
        """Return each worker's Ray resources: its CPUs plus the custom ones."""
        return {"CPU": float(self.cpus_per_worker), **dict(self.resources_per_worker)}


def candidate_fitter_of(config: Any) -> CandidateFitter | None:
    """Return the Ray fitter a training config asks for, or None for the local fit.

    Args:
        config: A ``training.config.TrainingConfig``; its ``train.backend`` (``local`` when
            absent) picks the backend and ``train.ray`` the :class:`RayTrainSettings`.

    Returns:
        A :data:`CandidateFitter` when ``train.backend`` is ``ray``, else None.

    Raises:
        ValueError: When the backend is neither ``local`` nor ``ray``.
    """
    backend = getattr(config.train, "backend", "local")
    if backend == "local":
        return None
    if backend != "ray":
        raise ValueError(f"unknown training backend {backend!r} (expected 'local' or 'ray')")
    return ray_candidate_fitter(RayTrainSettings.from_section(getattr(config.train, "ray", None)))


def ray_candidate_fitter(settings: RayTrainSettings) -> CandidateFitter:
    """Return a :data:`CandidateFitter` that trains on Ray with these settings."""
    return partial(
        fit_xgboost_on_ray,
        num_workers=settings.num_workers,
        cpus_per_worker=settings.cpus_per_worker,
        resources_per_worker=dict(settings.resources_per_worker),
        ray_address=settings.address,
        storage_path=settings.storage_path,
    )


def fit_xgboost_on_ray(
    pipeline_template: Pipeline,
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    num_workers: int = 2,
    cpus_per_worker: int = 1,
    resources_per_worker: Mapping[str, float] | None = None,
    ray_address: str | None = None,
    storage_path: str | None = None,
) -> Pipeline:
    """Fit ``encode -> XGBClassifier`` with the booster trained by Ray Train's XGBoostTrainer.

    Uses the Ray already initialised in this process; otherwise connects to ``ray_address``
    (or ``RAY_ADDRESS``, or starts a local Ray) and shuts that connection down afterwards.

    Args:
        pipeline_template: An unfitted ``Pipeline([encode, model])`` whose model is an
            ``XGBClassifier`` (:func:`training.estimators.build_xgboost_pipeline`); it is
            cloned, never changed.
        features: Raw training inputs.
        labels: Binary training labels (0/1), aligned with ``features``.
        num_workers: Ray Train workers.
        cpus_per_worker: CPUs reserved by each worker (and its XGBoost threads).
        resources_per_worker: Custom resources each worker needs (``{"worker": 1}``).
        ray_address: Cluster address used when Ray is not initialised yet.
        storage_path: Ray Train storage reachable from every node (None: a temporary folder).

    Returns:
        A new fitted ``Pipeline([encode, model])``, the same kind of object as the local fit.

    Raises:
        TypeError: When the template is not ``encode -> XGBClassifier``.
        ValueError: When the labels are not binary or there are fewer rows than workers.
    """
    settings = RayTrainSettings(
        num_workers, cpus_per_worker, dict(resources_per_worker or {}), ray_address, storage_path
    )
    encoder, template = _template_steps(pipeline_template)
    if set(np.unique(labels)) - {0, 1}:
        raise ValueError("the Ray backend trains binary classifiers: labels must be 0/1")
    if len(features) < num_workers:
        raise ValueError(f"{len(features)} training rows cannot feed {num_workers} workers")
    started = time.perf_counter()
    encoder.fit(features)
    frame = ray_dataset_frame(encoder.transform(features), labels)
    params, rounds = booster_params(template, nthread=cpus_per_worker)
    loop_config = {
        "params": params,
        "rounds": rounds,
        "columns": list(encoder.columns),
        "categories": {column: list(levels) for column, levels in encoder.categories_.items()},
    }
    booster = _train_booster(frame, loop_config, settings)
    model = classifier_from_booster(template, booster)
    logger.info(
        "XGBoost trained on Ray: %d workers x %s, %d rows, %d trees in %.1fs",
        num_workers,
        settings.worker_resources(),
        len(frame),
        rounds,
        time.perf_counter() - started,
    )
    names = [name for name, _ in pipeline_template.steps]
    return Pipeline([(names[0], encoder), (names[-1], model)])


def _template_steps(pipeline_template: Pipeline) -> tuple[Any, Any]:
    """Return unfitted clones of the template's encoder and XGBClassifier."""
    from xgboost import XGBClassifier

    from features.tabular import TabularEncoder

    steps = clone(pipeline_template).steps
    if (
        len(steps) != 2
        or not isinstance(steps[0][1], TabularEncoder)
        or not isinstance(steps[-1][1], XGBClassifier)
    ):
        raise TypeError("the Ray backend fits a TabularEncoder -> XGBClassifier pipeline")
    return steps[0][1], steps[-1][1]


def ray_dataset_frame(encoded: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Return the encoded rows as the Ray Dataset carries them: numbers only, plus the label.

    Categoricals become their frozen codes as floats (missing: NaN), which Arrow carries
    unchanged whatever the block boundaries; :func:`restore_categoricals` undoes it.

    Args:
        encoded: Output of ``TabularEncoder.transform`` (floats and frozen categoricals).
        labels: The rows' labels.

    Returns:
        A float frame with the encoded columns in order and :data:`LABEL_COLUMN` last.
    """
    if LABEL_COLUMN in encoded.columns:
        raise ValueError(f"an input column is named {LABEL_COLUMN!r}")
    columns: dict[str, np.ndarray] = {}
    for column in encoded.columns:
        series = encoded[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            columns[column] = codes
        else:
            columns[column] = series.to_numpy(dtype=float)
    columns[LABEL_COLUMN] = np.asarray(labels, dtype=float)
    return pd.DataFrame(columns)


def restore_categoricals(
    frame: pd.DataFrame, columns: list[str], categories: Mapping[str, list[str]]
) -> pd.DataFrame:
    """Rebuild the encoder's frame from a :func:`ray_dataset_frame` shard.

    Args:
        frame: Rows of a :func:`ray_dataset_frame` (extra columns, like the label, ignored).
        columns: The encoder's columns, in order.
        categories: The encoder's frozen levels per categorical column.

    Returns:
        Floats and ``pd.Categorical`` columns with exactly the frozen levels, as
        ``TabularEncoder.transform`` returns them.
    """
    out: dict[str, Any] = {}
    for column in columns:
        values = frame[column].to_numpy(dtype=float)
        if column in categories:
            codes = np.where(np.isnan(values), -1, values).astype(int)
            out[column] = pd.Categorical.from_codes(codes, categories=list(categories[column]))
        else:
            out[column] = values
    return pd.DataFrame(out, index=frame.index)


def booster_params(classifier: Any, nthread: int) -> tuple[dict[str, Any], int]:
    """Return the ``xgboost.train`` parameters and rounds an ``XGBClassifier`` would use.

    Args:
        classifier: An (unfitted) ``XGBClassifier``.
        nthread: Threads per worker (replaces the classifier's ``n_jobs``).

    Returns:
        ``(params, num_boost_round)``; unset (None) parameters are left out.
    """
    params = {key: value for key, value in classifier.get_xgb_params().items() if value is not None}
    params.pop("n_jobs", None)
    params["nthread"] = nthread
    return params, int(classifier.get_num_boosting_rounds())


def classifier_from_booster(template: Any, booster: xgb.Booster) -> Any:
    """Return an ``XGBClassifier`` with the template's parameters holding a trained booster.

    Args:
        template: The unfitted ``XGBClassifier`` whose hyper-parameters trained the booster.
        booster: The binary booster.

    Returns:
        A fitted classifier (``predict_proba``, ``get_booster``, ``classes_``, SHAP work)
        whose ``get_params()`` are the template's.
    """
    model = clone(template)
    model.load_model(bytearray(booster.save_raw("ubj")))
    if model.n_classes_ != 2:
        raise ValueError(f"expected a binary booster, got {model.n_classes_} classes")
    # load_model copies objective, base_score, feature types... from the booster into the
    # hyper-parameters; put the template's back so get_params (and clone, which calibration
    # refits) matches a locally fitted model's
    for name, value in template.get_params(deep=False).items():
        if hasattr(model, name):
            setattr(model, name, value)
    return model


def train_booster_per_worker(config: dict[str, Any]) -> None:
    """Ray Train worker loop: fit the booster on this worker's shard (collectively).

    XGBoost all-reduces the histograms between the workers, so every worker ends with the
    same booster; rank 0 reports it once, at the end, in the checkpoint file
    :meth:`ray.train.xgboost.RayTrainReportCallback.get_model` reads (reporting every round,
    as that callback does, costs seconds per round on a busy machine).

    Args:
        config: ``params``, ``rounds``, ``columns`` and ``categories`` from the driver.
    """
    import ray.train
    import xgboost as xgb
    from ray.train.xgboost import RayTrainReportCallback

    shard = ray.train.get_dataset_shard("train").materialize().to_pandas()
    features = restore_categoricals(shard, config["columns"], config["categories"])
    matrix = xgb.DMatrix(features, label=shard[LABEL_COLUMN], enable_categorical=True)
    history: dict[str, Any] = {}
    booster = xgb.train(
        config["params"],
        matrix,
        num_boost_round=config["rounds"],
        evals=[(matrix, "train")],
        evals_result=history,
        verbose_eval=False,
    )
    metrics = {
        f"train-{name}": float(values[-1]) for name, values in history.get("train", {}).items()
    }
    metrics["rows"] = float(matrix.num_row())
    if ray.train.get_context().get_world_rank() != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        booster.save_model(f"{folder}/{RayTrainReportCallback.CHECKPOINT_NAME}")
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def _train_booster(
    frame: pd.DataFrame, loop_config: dict[str, Any], settings: RayTrainSettings
) -> xgb.Booster:
    """Run the XGBoostTrainer on the frame and return the booster of its final checkpoint."""
    import ray
    import ray.data
    import ray.train
    from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

    owned_storage = settings.storage_path is None
    storage = settings.storage_path or tempfile.mkdtemp(prefix="haste-ray-train-")
    try:
        with (
            connected_ray(settings.address),
            code_shipped_by_value(sys.modules[__name__]),
            quiet_ray_data(),
        ):
            chunks = np.array_split(np.arange(len(frame)), settings.num_workers)
            dataset = ray.data.from_pandas([frame.iloc[rows] for rows in chunks])
            trainer = XGBoostTrainer(
                train_booster_per_worker,
                train_loop_config=loop_config,
                datasets={"train": dataset},
                scaling_config=ray.train.ScalingConfig(
                    num_workers=settings.num_workers,
                    resources_per_worker=settings.worker_resources(),
                ),
                run_config=ray.train.RunConfig(
                    name=f"haste-xgboost-{uuid.uuid4().hex[:8]}", storage_path=storage
                ),
            )
            result = trainer.fit()
            if result.checkpoint is None:
                raise RuntimeError("Ray Train finished without a checkpoint of the booster")
            logger.info("Ray Train metrics: %s", result.metrics)
            return RayTrainReportCallback.get_model(result.checkpoint)
    finally:
        if owned_storage:
            shutil.rmtree(storage, ignore_errors=True)
