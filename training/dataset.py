"""Turn a raw labelled table into model inputs, labels, ids and the audited sensitive column."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from features.tabular import select_feature_columns
from training.config import TrainingConfig


@dataclass(frozen=True)
class LabelledData:
    """Raw model inputs with their labels, entity ids and sensitive groups (aligned rows).

    ``groups`` holds one column per audited sensitive attribute.
    """

    features: pd.DataFrame
    labels: pd.Series
    ids: pd.Series
    groups: pd.DataFrame

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: pd.Index) -> LabelledData:
        """Return the rows at ``index`` (labels of the original frame)."""
        return LabelledData(
            features=self.features.loc[index],
            labels=self.labels.loc[index],
            ids=self.ids.loc[index],
            groups=self.groups.loc[index],
        )


def prepare_labelled_data(frame: pd.DataFrame, config: TrainingConfig) -> LabelledData:
    """Split a raw dataset into inputs, labels, ids and sensitive groups.

    Args:
        frame: The cleaned dataset (e.g. from :func:`pipelines.datasets.load_leads`).
        config: The model's training config.

    Returns:
        The aligned parts; missing sensitive values become ``config.fairness.missing_group``.

    Raises:
        KeyError: When the target, id or sensitive column is absent.

    """
    sensitive = config.fairness.sensitive_columns
    for column in (config.target, config.id_column, *sensitive):
        if column not in frame.columns:
            raise KeyError(f"column {column!r} required by {config.model_name} config is absent")
    columns = select_feature_columns(frame, config.excluded_columns)
    raw_groups = frame[sensitive].astype(object)
    groups = raw_groups.where(raw_groups.notna(), config.fairness.missing_group).astype(str)
    return LabelledData(
        features=frame[columns],
        labels=frame[config.target].astype(int),
        ids=frame[config.id_column].astype(str),
        groups=groups,
    )


def split_labelled_data(
    data: LabelledData, test_size: float, random_state: int, group_by_id: bool = False
) -> tuple[LabelledData, LabelledData]:
    """Make a stratified train/held-out split.

    Args:
        data: All labelled rows.
        test_size: Held-out share.
        random_state: Seed of the split.
        group_by_id: Keep all rows of one id on one side (``StratifiedGroupKFold``: the
            held-out part is one fold of ``round(1 / test_size)``).

    Returns:
        The training and held-out parts.

    """
    if group_by_id:
        folds = StratifiedGroupKFold(
            n_splits=max(2, round(1 / test_size)), shuffle=True, random_state=random_state
        )
        train_pos, test_pos = next(folds.split(data.features, data.labels, groups=data.ids))
        index = data.labels.index
        return data.subset(index[train_pos]), data.subset(index[test_pos])
    train_index, test_index = train_test_split(
        data.labels.index, test_size=test_size, random_state=random_state, stratify=data.labels
    )
    return data.subset(train_index), data.subset(test_index)
