"""Versioned prompts: ``configs/prompts/*.yaml``, variable validation, A/B, stats, the DB copy.

One YAML file per prompt, named after it (``configs/prompts/<name>.yaml``)::

    name: email_compose
    category: email
    description: ...
    versions:
      - version: 1
        system: "You are ..."            # optional, a Jinja2 template too
        template: |                      # Jinja2, rendered with StrictUndefined
          Write a {{ tone }} email to {{ recipient_name }} ...
        variables:                       # every template variable must be declared
          recipient_name: {type: str, required: true, max_length: 200}
          tone: {type: str, enum: [formal, casual, friendly], default: friendly}
          previous_emails: {type: list, required: false, default: []}
        model_config: {provider: default, temperature: 0.4, max_tokens: 400}
        active: true                     # optional; inactive versions get no traffic
    ab_test: {1: 100}                    # version -> traffic percent, sums to 100 (optional)
    tests:                               # prompt test cases (textai/llm/prompt_testing.py)
      - name: formal tone
        version: 1                       # optional: default every active version
        variables: {recipient_name: Ada, tone: formal}
        assert:
          - {contains: "Ada"}
          - {not_contains: "@"}
          - {max_words: 200}
          - {min_words: 20}
          - {regex: "(?i)dear|hello|hi"}

Variable types are ``str``, ``int``, ``float``, ``bool``, ``list`` and ``dict``; a variable
is required unless it has a ``default`` or says ``required: false`` (then it renders as its
default, or ``None``). ``enum`` restricts the values, ``max_length``/``min_length`` bound the
length of a str/list/dict and ``min``/``max`` bound an int/float. Unknown, missing or invalid
variables raise :class:`PromptVariableError` naming the variable. A template (or system prompt)
using an undeclared variable is a load error naming the file.

``model_config.provider`` names a provider of ``configs/llm.yaml`` (``default``: the configured
``default_provider``). Without ``ab_test`` the latest active version gets all the traffic;
:meth:`PromptRegistry.choose_version` assigns each subject (a contact or user id) a sticky
version from ``sha256("prompt:<name>:<subject>") mod 100``.

**Stats convention**: every call made with a prompt is recorded in ``ai_interactions`` with
``variant = "<name>@v<version>"`` (:func:`format_variant`); :func:`prompt_stats` aggregates
those rows per version (calls, errors, mean latency, mean tokens, mean feedback) and stores the
result in ``ai_prompts.performance_stats``. Feedback (:func:`record_feedback`) is an integer
from 1 (bad) to 5 (excellent) in ``ai_interactions.feedback_score``.

The ``ai_prompts`` table holds one row per (name, version) (:meth:`PromptRegistry.sync_to_db`);
a version's template and system prompt are immutable once stored: change them by adding a
version.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from haste.db.models import AIPrompt
from haste.db.session import session_scope
from textai.llm.prompt_model import (
    PromptDefinition,
    PromptLoadError,
    PromptNotFoundError,
    PromptVersion,
    RenderedPrompt,
    SyncReport,
)
from textai.llm.prompt_parsing import load_prompt_files, render_version
from textai.llm.prompt_records import _sync_definitions
from training.ab_routing import bucket_of

logger = logging.getLogger(__name__)

"""Declared variable type -> accepted Python types (``bool`` is never an int or a float)."""
"""Prompt names: lower snake case, short enough for ``ai_interactions.variant`` (50 chars)."""


def resolve_prompts_dir() -> Path:
    """Return ``configs/prompts`` (override with the ``HASTE_PROMPTS_DIR`` env var)."""
    from haste.settings import CONFIG_DIR

    return Path(os.environ.get("HASTE_PROMPTS_DIR", CONFIG_DIR / "prompts"))


def choose_from_split(split: Mapping[int, int], subject: str, salt: str) -> int:
    """Return the version whose cumulative percentage range holds the subject's bucket."""
    bucket = bucket_of(subject, salt)
    cumulative = 0
    for version in sorted(split):
        cumulative += split[version]
        if bucket < cumulative:
            return version
    return max(split)


class PromptRegistry:
    """Every prompt of ``configs/prompts``, loaded and validated at construction.

    Args:
        prompts_dir: Folder of ``<name>.yaml`` files; ``None`` is ``configs/prompts`` (or
            ``$HASTE_PROMPTS_DIR``).
        definitions: Ready definitions (tests). Given without ``prompts_dir``, only these
            are registered; with it, they are added to the files' prompts.

    Raises:
        PromptLoadError: When the folder is missing, a file is invalid (the message names it)
            or two files define the same prompt.
    """

    def __init__(
        self,
        prompts_dir: str | Path | None = None,
        *,
        definitions: Iterable[PromptDefinition] = (),
    ) -> None:
        self.prompts_dir = Path(prompts_dir) if prompts_dir is not None else resolve_prompts_dir()
        self._prompts: dict[str, PromptDefinition] = {}
        explicit = list(definitions)
        if prompts_dir is not None or not explicit:
            for definition in load_prompt_files(self.prompts_dir):
                self._add(definition)
        for definition in explicit:
            self._add(definition)

    def _add(self, definition: PromptDefinition) -> None:
        """Register a definition (a duplicate name is an error)."""
        existing = self._prompts.get(definition.name)
        if existing is not None:
            raise PromptLoadError(
                f"prompt {definition.name!r} is defined twice ({existing.source} and "
                f"{definition.source})"
            )
        self._prompts[definition.name] = definition

    def names(self) -> list[str]:
        """Return the registered prompt names, sorted."""
        return sorted(self._prompts)

    def __contains__(self, name: object) -> bool:
        return name in self._prompts

    def __len__(self) -> int:
        return len(self._prompts)

    def definition(self, name: str) -> PromptDefinition:
        """Return a prompt's whole definition.

        Raises:
            PromptNotFoundError: When no prompt has that name.
        """
        try:
            return self._prompts[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise PromptNotFoundError(f"unknown prompt {name!r} (known: {known})") from None

    def get(self, name: str, version: int | None = None) -> PromptVersion:
        """Return a prompt version (default: the latest active one).

        Raises:
            PromptNotFoundError: When the prompt or the version does not exist.
        """
        definition = self.definition(name)
        number = definition.latest_version if version is None else version
        try:
            return definition.versions[number]
        except KeyError:
            known = ", ".join(str(v) for v in definition.versions)
            raise PromptNotFoundError(
                f"prompt {name!r} has no version {number} (versions: {known})"
            ) from None

    def render(
        self, name: str, variables: Mapping[str, Any], version: int | None = None
    ) -> RenderedPrompt:
        """Validate the variables and render a prompt version (default: the latest active).

        Raises:
            PromptNotFoundError: When the prompt or the version does not exist.
            PromptVariableError: When the variables do not validate (the message names them).
        """
        definition = self.definition(name)
        return render_version(definition, self.get(name, version), variables)

    def choose_version(self, name: str, subject: str) -> int:
        """Return the sticky A/B version of ``subject`` (a contact or user id) for a prompt.

        The subject's bucket is ``sha256("prompt:<name>:<subject>") mod 100``; versions own
        consecutive bucket ranges in version order, sized by their ``ab_test`` percentage.

        Raises:
            PromptNotFoundError: When the prompt does not exist.
        """
        definition = self.definition(name)
        return choose_from_split(definition.ab_test, str(subject), f"prompt:{name}")

    def sync_to_db(self, url: str, names: Sequence[str] | None = None) -> SyncReport:
        """Upsert one ``ai_prompts`` row per (name, version), in one transaction.

        Idempotent. Metadata (category, variables, model config, active flag) is updated in
        place; stored versions missing from the files are marked inactive (never deleted).

        Args:
            url: Database URL.
            names: Only these prompts (default: every prompt).

        Returns:
            What was inserted, updated, left unchanged and deactivated.

        Raises:
            PromptVersionConflictError: When a stored version's template or system prompt
                differs from its file; nothing is written (bump the version instead).
        """
        selected = [self.definition(n) for n in (names if names is not None else self.names())]
        for attempt in range(2):
            try:
                return _sync_definitions(url, selected)
            except IntegrityError:
                if attempt:
                    raise
                logger.info("concurrent ai_prompts insert; retrying the prompt sync")
        raise AssertionError("unreachable")

    def prompt_ids(self, url: str, name: str) -> dict[int, uuid.UUID]:
        """Return the ``ai_prompts`` ids of a prompt's versions (syncing the prompt first)."""
        self.sync_to_db(url, [name])
        with session_scope(url) as session:
            rows = session.execute(
                select(AIPrompt.version, AIPrompt.id).where(AIPrompt.name == name)
            )
            return {int(version): row_id for version, row_id in rows}
