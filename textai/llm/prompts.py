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

import datetime as dt
import logging
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from haste.db.models import AIInteraction, AIPrompt
from haste.db.session import session_scope
from haste.records import InteractionRecord
from textai.llm.providers import LLMRequest
from training.ab_routing import bucket_of

logger = logging.getLogger(__name__)

VARIABLE_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}
"""Declared variable type -> accepted Python types (``bool`` is never an int or a float)."""
VARIABLE_KEYS = frozenset(
    {"type", "required", "default", "enum", "max_length", "min_length", "min", "max", "description"}
)
MODEL_CONFIG_KEYS = frozenset({"provider", "temperature", "max_tokens"})
VERSION_KEYS = frozenset({"version", "system", "template", "variables", "model_config", "active"})
FILE_KEYS = frozenset({"name", "category", "description", "versions", "ab_test", "tests"})
TEST_KEYS = frozenset({"name", "version", "variables", "assert"})
ASSERTION_KINDS = frozenset(
    {"contains", "not_contains", "regex", "not_regex", "min_words", "max_words", "max_chars"}
)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""Prompt names: lower snake case, short enough for ``ai_interactions.variant`` (50 chars)."""
FEEDBACK_MIN, FEEDBACK_MAX = 1, 5
DEFAULT_PROVIDER = "default"


class PromptError(ValueError):
    """Base class of the prompt errors."""


class PromptLoadError(PromptError):
    """A prompt file is unreadable or invalid (the message names the file and the key)."""


class PromptNotFoundError(PromptError, LookupError):
    """No prompt (or no such version of it) is registered."""


class PromptVariableError(PromptError):
    """Variables passed to a prompt are unknown, missing or invalid.

    Attributes:
        variable: The offending variable (``None`` when several are unknown or missing).
    """

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class PromptVersionConflictError(PromptError):
    """A stored prompt version's text differs from the file: a new version is needed."""


class InteractionNotFoundError(LookupError):
    """No ``ai_interactions`` row has the given request id."""


def format_variant(name: str, version: int) -> str:
    """Return the ``ai_interactions.variant`` of calls made with a prompt version."""
    return f"{name}@v{version}"


def parse_variant(variant: str) -> tuple[str, int] | None:
    """Return ``(name, version)`` of a ``name@vN`` variant, or ``None`` for other variants."""
    match = re.fullmatch(r"(.+)@v(\d+)", variant or "")
    return (match.group(1), int(match.group(2))) if match else None


@dataclass(frozen=True)
class VariableSpec:
    """One declared template variable.

    Attributes:
        name: Variable name.
        type: ``str``, ``int``, ``float``, ``bool``, ``list`` or ``dict``.
        required: Whether a value must be passed.
        default: Value used when an optional variable is not passed.
        enum: Allowed values (``None``: any).
        max_length: Upper bound of ``len`` (str, list, dict).
        min_length: Lower bound of ``len`` (str, list, dict).
        minimum: Lower bound of an int/float.
        maximum: Upper bound of an int/float.
        description: Free text.
    """

    name: str
    type: str
    required: bool = True
    default: Any = None
    enum: tuple[Any, ...] | None = None
    max_length: int | None = None
    min_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str | None = None

    def validate(self, value: Any, where: str) -> Any:
        """Return ``value`` checked (and normalised: tuple -> list, int -> float).

        Args:
            value: The value passed.
            where: Prefix of error messages (``prompt NAME vN``).

        Raises:
            PromptVariableError: On a wrong type, a value outside ``enum`` or out of bounds.
        """
        label = f"{where}: variable {self.name!r}"
        accepted = VARIABLE_TYPES[self.type]
        if (isinstance(value, bool) and self.type != "bool") or not isinstance(value, accepted):
            raise PromptVariableError(
                f"{label}: expected {self.type}, got {type(value).__name__}", self.name
            )
        if self.type == "float":
            value = float(value)
        elif self.type == "list":
            value = list(value)
        if self.enum is not None and value not in self.enum:
            allowed = ", ".join(repr(v) for v in self.enum)
            raise PromptVariableError(f"{label}: {value!r} is not one of {allowed}", self.name)
        if self.type in ("str", "list", "dict"):
            if self.max_length is not None and len(value) > self.max_length:
                raise PromptVariableError(
                    f"{label}: length {len(value)} exceeds max_length {self.max_length}",
                    self.name,
                )
            if self.min_length is not None and len(value) < self.min_length:
                raise PromptVariableError(
                    f"{label}: length {len(value)} is below min_length {self.min_length}",
                    self.name,
                )
        if self.type in ("int", "float"):
            if self.minimum is not None and value < self.minimum:
                raise PromptVariableError(
                    f"{label}: {value} is below min {self.minimum}", self.name
                )
            if self.maximum is not None and value > self.maximum:
                raise PromptVariableError(f"{label}: {value} exceeds max {self.maximum}", self.name)
        return value

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML-shaped declaration (stored in ``ai_prompts.variables``)."""
        data: dict[str, Any] = {"type": self.type, "required": self.required}
        optional = {
            "default": None if self.required else self.default,
            "enum": list(self.enum) if self.enum is not None else None,
            "max_length": self.max_length,
            "min_length": self.min_length,
            "min": self.minimum,
            "max": self.maximum,
            "description": self.description,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


@dataclass(frozen=True)
class PromptModelConfig:
    """LLM parameters of a prompt version.

    Attributes:
        provider: Provider name in ``configs/llm.yaml``; ``None`` is the default provider.
        temperature: Sampling temperature in [0, 2].
        max_tokens: Upper bound of generated tokens.
    """

    provider: str | None = None
    temperature: float = 0.2
    max_tokens: int = 512

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML-shaped mapping (``provider: default`` when unset)."""
        return {
            "provider": self.provider or DEFAULT_PROVIDER,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }


@dataclass(frozen=True)
class Assertion:
    """One check of a prompt test case on the generated text.

    Attributes:
        kind: ``contains``, ``not_contains`` (case-insensitive substring), ``regex``,
            ``not_regex`` (``re.search``), ``min_words``, ``max_words`` or ``max_chars``.
        expected: The substring, pattern or bound.
    """

    kind: str
    expected: Any

    @classmethod
    def parse(cls, raw: Any, where: str) -> Assertion:
        """Build an assertion from its YAML form, a one-key mapping like ``{contains: Ada}``.

        Raises:
            PromptLoadError: On an unknown kind, a bad value or an invalid regex.
        """
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise PromptLoadError(f"{where}: an assertion is a one-key mapping, got {raw!r}")
        kind, expected = next(iter(raw.items()))
        if kind not in ASSERTION_KINDS:
            raise PromptLoadError(
                f"{where}: unknown assertion {kind!r} (known: {', '.join(sorted(ASSERTION_KINDS))})"
            )
        if kind in ("min_words", "max_words", "max_chars"):
            if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
                raise PromptLoadError(f"{where}: {kind} needs an integer >= 0, got {expected!r}")
        elif not isinstance(expected, str) or not expected:
            raise PromptLoadError(f"{where}: {kind} needs a non-empty string, got {expected!r}")
        if kind in ("regex", "not_regex"):
            try:
                re.compile(expected)
            except re.error as exc:
                raise PromptLoadError(f"{where}: invalid regex {expected!r}: {exc}") from None
        return cls(kind, expected)

    def evaluate(self, output: str) -> AssertionOutcome:
        """Return whether ``output`` satisfies this assertion, with a short explanation."""
        words = len(output.split())
        if self.kind == "contains":
            passed = self.expected.lower() in output.lower()
            detail = "found" if passed else "not found"
        elif self.kind == "not_contains":
            passed = self.expected.lower() not in output.lower()
            detail = "absent" if passed else "found"
        elif self.kind == "regex":
            passed = re.search(self.expected, output) is not None
            detail = "matched" if passed else "no match"
        elif self.kind == "not_regex":
            found = re.search(self.expected, output)
            passed = found is None
            detail = "no match" if passed else f"matched {found.group(0)!r}"
        elif self.kind == "min_words":
            passed, detail = words >= self.expected, f"{words} words"
        elif self.kind == "max_words":
            passed, detail = words <= self.expected, f"{words} words"
        else:
            passed, detail = len(output) <= self.expected, f"{len(output)} chars"
        return AssertionOutcome(self.kind, self.expected, passed, detail)

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML form."""
        return {self.kind: self.expected}


@dataclass(frozen=True)
class AssertionOutcome:
    """The result of one assertion.

    Attributes:
        kind: Assertion kind.
        expected: Its argument.
        passed: Whether it held.
        detail: What was observed (``not found``, ``212 words`` ...).
    """

    kind: str
    expected: Any
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "kind": self.kind,
            "expected": self.expected,
            "passed": self.passed,
            "detail": self.detail,
        }


def evaluate_assertions(assertions: Iterable[Assertion], output: str) -> list[AssertionOutcome]:
    """Evaluate every assertion on ``output``."""
    return [assertion.evaluate(output) for assertion in assertions]


@dataclass(frozen=True)
class PromptTestCase:
    """A test case of a prompt file.

    Attributes:
        name: Case name (unique in its file).
        version: Version it targets; ``None`` runs it against every selected version.
        variables: Variables to render the prompt with.
        assertions: Checks on the generated text.
    """

    name: str
    version: int | None
    variables: dict[str, Any]
    assertions: tuple[Assertion, ...]


@dataclass(frozen=True)
class PromptVersion:
    """One version of a prompt.

    Attributes:
        version: Version number (>= 1).
        template: Jinja2 template of the user message.
        system: Jinja2 template of the system prompt, if any.
        variables: Declared variables by name.
        model_config: LLM parameters.
        active: Whether the version may receive traffic.
    """

    version: int
    template: str
    system: str | None
    variables: dict[str, VariableSpec]
    model_config: PromptModelConfig
    active: bool = True


@dataclass(frozen=True)
class PromptDefinition:
    """A prompt file.

    Attributes:
        name: Prompt name.
        category: Category (email, summary ...).
        description: Free text.
        versions: Versions by number.
        ab_test: Version -> traffic percent (sums to 100).
        tests: Test cases.
        source: The file it was loaded from.
    """

    name: str
    category: str | None
    description: str | None
    versions: dict[int, PromptVersion]
    ab_test: dict[int, int]
    tests: tuple[PromptTestCase, ...]
    source: Path | None = None

    @property
    def latest_version(self) -> int:
        """The highest active version number."""
        return max(v.version for v in self.versions.values() if v.active)


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt version rendered with validated variables.

    Attributes:
        name: Prompt name.
        version: Version rendered.
        system: Rendered system prompt, if any.
        text: Rendered user message.
        model_config: LLM parameters of the version.
        variables: The validated variables (defaults filled in).
    """

    name: str
    version: int
    system: str | None
    text: str
    model_config: PromptModelConfig
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        """``name@vN``: the ``ai_interactions.variant`` of calls made with this version."""
        return format_variant(self.name, self.version)

    def to_request(self, metadata: dict[str, Any] | None = None) -> LLMRequest:
        """Return the one-turn LLM request (system, text, max_tokens, temperature)."""
        return LLMRequest.from_prompt(
            self.text,
            system=self.system,
            max_tokens=self.model_config.max_tokens,
            temperature=self.model_config.temperature,
            metadata=dict(metadata or {}),
        )


@dataclass(frozen=True)
class SyncReport:
    """What :meth:`PromptRegistry.sync_to_db` did.

    Attributes:
        inserted: ``name@vN`` rows created.
        updated: Rows whose metadata (category, variables, model config, active) changed.
        unchanged: Rows already up to date.
        deactivated: Stored versions no longer in the files (marked inactive).
    """

    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)


def build_environment() -> SandboxedEnvironment:
    """Return the Jinja2 environment of prompts.

    Sandboxed, ``StrictUndefined``, no autoescaping; ``trim_blocks`` and ``lstrip_blocks`` so
    that a ``{% if %}`` line leaves no blank line behind.
    """
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def tidy_text(text: str) -> str:
    """Return rendered text stripped, trailing spaces removed, 3+ newlines collapsed to 2."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def resolve_prompts_dir() -> Path:
    """Return ``configs/prompts`` (override with the ``HASTE_PROMPTS_DIR`` env var)."""
    from haste.settings import CONFIG_DIR

    return Path(os.environ.get("HASTE_PROMPTS_DIR", CONFIG_DIR / "prompts"))


def _parse_int(value: Any, where: str, minimum: int = 0) -> int:
    """Return ``value`` as an int >= ``minimum`` (``"2"`` and ``"v2"`` are accepted)."""
    if isinstance(value, str) and re.fullmatch(r"v?\d+", value.strip()):
        value = int(value.strip().lstrip("v"))
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PromptLoadError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _parse_variable(name: str, raw: Any, where: str) -> VariableSpec:
    """Build a :class:`VariableSpec` from its YAML declaration."""
    where = f"{where}.variables.{name}"
    if not isinstance(name, str) or not name.isidentifier():
        raise PromptLoadError(f"{where}: variable names must be identifiers")
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise PromptLoadError(f"{where}: expected a mapping like {{type: str}}, got {raw!r}")
    unknown = sorted(set(raw) - VARIABLE_KEYS)
    if unknown:
        raise PromptLoadError(f"{where}: unknown keys {unknown} (known: {sorted(VARIABLE_KEYS)})")
    kind = raw.get("type", "str")
    if kind not in VARIABLE_TYPES:
        raise PromptLoadError(f"{where}.type: {kind!r} is not one of {', '.join(VARIABLE_TYPES)}")
    has_default = "default" in raw
    required = raw.get("required", not has_default)
    if not isinstance(required, bool):
        raise PromptLoadError(f"{where}.required: expected true or false, got {required!r}")
    if required and has_default:
        raise PromptLoadError(f"{where}: a required variable cannot have a default")
    enum = raw.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        raise PromptLoadError(f"{where}.enum: expected a non-empty list, got {enum!r}")
    lengths = {}
    for key in ("max_length", "min_length"):
        if raw.get(key) is not None:
            lengths[key] = _parse_int(raw[key], f"{where}.{key}")
    bounds = {}
    for key in ("min", "max"):
        value = raw.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PromptLoadError(f"{where}.{key}: expected a number, got {value!r}")
            bounds[key] = value
    spec = VariableSpec(
        name=name,
        type=kind,
        required=required,
        default=raw.get("default"),
        enum=tuple(enum) if enum is not None else None,
        max_length=lengths.get("max_length"),
        min_length=lengths.get("min_length"),
        minimum=bounds.get("min"),
        maximum=bounds.get("max"),
        description=raw.get("description"),
    )
    if has_default and spec.default is not None:
        try:
            spec.validate(spec.default, where)
        except PromptVariableError as exc:
            raise PromptLoadError(f"{where}.default: {exc}") from None
    return spec


def _parse_model_config(raw: Any, where: str) -> PromptModelConfig:
    """Build a :class:`PromptModelConfig` from its YAML mapping."""
    where = f"{where}.model_config"
    if raw is None:
        return PromptModelConfig()
    if not isinstance(raw, Mapping):
        raise PromptLoadError(f"{where}: expected a mapping, got {raw!r}")
    unknown = sorted(set(raw) - MODEL_CONFIG_KEYS)
    if unknown:
        raise PromptLoadError(
            f"{where}: unknown keys {unknown} (known: {sorted(MODEL_CONFIG_KEYS)})"
        )
    provider = raw.get("provider", DEFAULT_PROVIDER)
    if not isinstance(provider, str) or not provider:
        raise PromptLoadError(f"{where}.provider: expected a provider name, got {provider!r}")
    temperature = raw.get("temperature", 0.2)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise PromptLoadError(f"{where}.temperature: expected a number, got {temperature!r}")
    if not 0.0 <= temperature <= 2.0:
        raise PromptLoadError(f"{where}.temperature: must be in [0, 2], got {temperature}")
    max_tokens = _parse_int(raw.get("max_tokens", 512), f"{where}.max_tokens", minimum=1)
    return PromptModelConfig(
        provider=None if provider == DEFAULT_PROVIDER else provider,
        temperature=float(temperature),
        max_tokens=max_tokens,
    )


def _find_template_variables(env: SandboxedEnvironment, source: str, where: str) -> set[str]:
    """Return the free variables of a template (syntax errors become load errors)."""
    try:
        ast = env.parse(source)
    except TemplateError as exc:
        raise PromptLoadError(f"{where}: invalid Jinja2 template: {exc}") from None
    return set(meta.find_undeclared_variables(ast)) - set(env.globals)


def _parse_version(raw: Any, where: str, env: SandboxedEnvironment) -> PromptVersion:
    """Build a :class:`PromptVersion` and check its templates use only declared variables."""
    if not isinstance(raw, Mapping):
        raise PromptLoadError(f"{where}: expected a mapping, got {raw!r}")
    unknown = sorted(set(raw) - VERSION_KEYS)
    if unknown:
        raise PromptLoadError(f"{where}: unknown keys {unknown} (known: {sorted(VERSION_KEYS)})")
    if "version" not in raw:
        raise PromptLoadError(f"{where}.version: required")
    number = _parse_int(raw["version"], f"{where}.version", minimum=1)
    where = f"{where} (version {number})"
    template = raw.get("template")
    if not isinstance(template, str) or not template.strip():
        raise PromptLoadError(f"{where}.template: a non-empty string is required")
    system = raw.get("system")
    if system is not None and not isinstance(system, str):
        raise PromptLoadError(f"{where}.system: expected a string, got {system!r}")
    raw_variables = raw.get("variables") or {}
    if not isinstance(raw_variables, Mapping):
        raise PromptLoadError(f"{where}.variables: expected a mapping, got {raw_variables!r}")
    variables = {
        str(name): _parse_variable(name, spec, where) for name, spec in raw_variables.items()
    }
    used = _find_template_variables(env, template, f"{where}.template")
    if system:
        used |= _find_template_variables(env, system, f"{where}.system")
    undeclared = sorted(used - set(variables))
    if undeclared:
        raise PromptLoadError(
            f"{where}: template uses undeclared variables {undeclared}; declare them under "
            "variables"
        )
    active = raw.get("active", True)
    if not isinstance(active, bool):
        raise PromptLoadError(f"{where}.active: expected true or false, got {active!r}")
    return PromptVersion(
        version=number,
        template=template,
        system=system,
        variables=variables,
        model_config=_parse_model_config(raw.get("model_config"), where),
        active=active,
    )


def _parse_ab_test(raw: Any, versions: Mapping[int, PromptVersion], where: str) -> dict[int, int]:
    """Return the checked traffic split (default: the latest active version gets 100)."""
    active = sorted(v.version for v in versions.values() if v.active)
    if raw is None:
        return {active[-1]: 100}
    if not isinstance(raw, Mapping) or not raw:
        raise PromptLoadError(f"{where}.ab_test: expected a mapping version -> percent")
    split: dict[int, int] = {}
    for key, value in raw.items():
        version = _parse_int(key, f"{where}.ab_test", minimum=1)
        if version not in versions:
            raise PromptLoadError(f"{where}.ab_test: unknown version {version}")
        if not versions[version].active:
            raise PromptLoadError(f"{where}.ab_test: version {version} is not active")
        split[version] = _parse_int(value, f"{where}.ab_test.{version}")
    total = sum(split.values())
    if total != 100:
        raise PromptLoadError(f"{where}.ab_test: percentages must sum to 100, got {total}")
    return {version: split[version] for version in sorted(split) if split[version] > 0}


def _parse_test(raw: Any, index: int, where: str) -> PromptTestCase:
    """Build a :class:`PromptTestCase` from its YAML mapping."""
    where = f"{where}.tests[{index}]"
    if not isinstance(raw, Mapping):
        raise PromptLoadError(f"{where}: expected a mapping, got {raw!r}")
    unknown = sorted(set(raw) - TEST_KEYS)
    if unknown:
        raise PromptLoadError(f"{where}: unknown keys {unknown} (known: {sorted(TEST_KEYS)})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PromptLoadError(f"{where}.name: a non-empty string is required")
    version = raw.get("version")
    if version is not None:
        version = _parse_int(version, f"{where}.version", minimum=1)
    variables = raw.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise PromptLoadError(f"{where}.variables: expected a mapping")
    assertions = raw.get("assert") or []
    if not isinstance(assertions, list) or not assertions:
        raise PromptLoadError(f"{where}.assert: at least one assertion is required")
    return PromptTestCase(
        name=name.strip(),
        version=version,
        variables=dict(variables),
        assertions=tuple(
            Assertion.parse(item, f"{where}.assert[{i}]") for i, item in enumerate(assertions)
        ),
    )


def parse_prompt(data: Any, source: str = "<mapping>") -> PromptDefinition:
    """Validate a parsed prompt file into a :class:`PromptDefinition`.

    Args:
        data: The parsed YAML document.
        source: Where it came from (every error message starts with it).

    Raises:
        PromptLoadError: When anything is invalid, including a template using an undeclared
            variable or a test case whose variables do not validate.
    """
    where = source
    if not isinstance(data, Mapping):
        raise PromptLoadError(f"{where}: top level must be a mapping")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise PromptLoadError(f"{where}: unknown keys {unknown} (known: {sorted(FILE_KEYS)})")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PromptLoadError(
            f"{where}.name: expected lower snake case of at most 40 characters, got {name!r}"
        )
    raw_versions = data.get("versions")
    if not isinstance(raw_versions, list) or not raw_versions:
        raise PromptLoadError(f"{where}.versions: at least one version is required")
    env = build_environment()
    versions: dict[int, PromptVersion] = {}
    for index, raw in enumerate(raw_versions):
        version = _parse_version(raw, f"{where}.versions[{index}]", env)
        if version.version in versions:
            raise PromptLoadError(f"{where}.versions[{index}]: version {version.version} twice")
        versions[version.version] = version
    if not any(v.active for v in versions.values()):
        raise PromptLoadError(f"{where}.versions: at least one version must be active")
    raw_tests = data.get("tests") or []
    if not isinstance(raw_tests, list):
        raise PromptLoadError(f"{where}.tests: expected a list")
    tests = tuple(_parse_test(raw, i, where) for i, raw in enumerate(raw_tests))
    names = [test_case.name for test_case in tests]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PromptLoadError(f"{where}.tests: duplicate test names {duplicates}")
    definition = PromptDefinition(
        name=name,
        category=data.get("category"),
        description=data.get("description"),
        versions=dict(sorted(versions.items())),
        ab_test=_parse_ab_test(data.get("ab_test"), versions, where),
        tests=tests,
        source=Path(source) if source != "<mapping>" else None,
    )
    for index, test_case in enumerate(tests):
        if test_case.version is not None and test_case.version not in versions:
            raise PromptLoadError(f"{where}.tests[{index}]: unknown version {test_case.version}")
        targets = [test_case.version] if test_case.version is not None else list(versions)
        for number in targets:
            try:
                render_version(definition, versions[number], test_case.variables)
            except PromptError as exc:
                raise PromptLoadError(f"{where}.tests[{index}] ({test_case.name}): {exc}") from None
    return definition


def validate_variables(
    definition: PromptDefinition, version: PromptVersion, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the variables checked against the version's declarations, defaults filled in.

    Raises:
        PromptVariableError: On unknown, missing, mistyped or out-of-range variables.
    """
    where = f"prompt {definition.name} v{version.version}"
    if not isinstance(variables, Mapping):
        raise PromptVariableError(f"{where}: variables must be a mapping")
    unknown = sorted(set(variables) - set(version.variables))
    if unknown:
        declared = ", ".join(sorted(version.variables)) or "none"
        raise PromptVariableError(
            f"{where}: unknown variables {unknown} (declared: {declared})",
            unknown[0] if len(unknown) == 1 else None,
        )
    missing = sorted(
        name for name, spec in version.variables.items() if spec.required and name not in variables
    )
    if missing:
        raise PromptVariableError(
            f"{where}: missing required variables {missing}",
            missing[0] if len(missing) == 1 else None,
        )
    values: dict[str, Any] = {}
    for name, spec in version.variables.items():
        value = variables.get(name)
        if value is None and not spec.required:
            default = spec.default
            values[name] = list(default) if isinstance(default, list) else default
        else:
            values[name] = spec.validate(value, where)
    return values


def render_version(
    definition: PromptDefinition, version: PromptVersion, variables: Mapping[str, Any]
) -> RenderedPrompt:
    """Validate ``variables`` and render one version (tidied by :func:`tidy_text`).

    Raises:
        PromptVariableError: When the variables do not validate.
    """
    values = validate_variables(definition, version, variables)
    env = build_environment()
    try:
        text = tidy_text(env.from_string(version.template).render(**values))
        system = (
            tidy_text(env.from_string(version.system).render(**values)) if version.system else None
        )
    except TemplateError as exc:
        raise PromptVariableError(
            f"prompt {definition.name} v{version.version}: rendering failed: {exc}"
        ) from exc
    return RenderedPrompt(
        name=definition.name,
        version=version.version,
        system=system or None,
        text=text,
        model_config=version.model_config,
        variables=values,
    )


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


def load_prompt_files(prompts_dir: Path) -> list[PromptDefinition]:
    """Load and validate every ``*.yaml``/``*.yml`` file of a folder.

    Raises:
        PromptLoadError: When the folder does not exist or a file is invalid.
    """
    if not prompts_dir.is_dir():
        raise PromptLoadError(f"prompts folder {prompts_dir} does not exist")
    files = sorted([*prompts_dir.glob("*.yaml"), *prompts_dir.glob("*.yml")])
    return [load_prompt_file(path) for path in files]


def load_prompt_file(path: str | Path) -> PromptDefinition:
    """Load and validate one prompt file (its ``name`` must equal the file's stem).

    Raises:
        PromptLoadError: When the file is unreadable, not YAML or invalid (named in the
            message).
    """
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PromptLoadError(f"cannot read prompt file {file}: {exc}") from None
    except yaml.YAMLError as exc:
        raise PromptLoadError(f"invalid YAML in prompt file {file}: {exc}") from None
    definition = parse_prompt(data, source=str(file))
    if definition.name != file.stem:
        raise PromptLoadError(
            f"{file}: name {definition.name!r} must match the file name ({file.stem}.yaml)"
        )
    return definition


def _prompt_model_config(version: PromptVersion) -> dict[str, Any]:
    """Return the ``ai_prompts.model_config`` document (the system prompt included)."""
    return {**version.model_config.to_dict(), "system": version.system}


def _sync_definitions(url: str, definitions: Sequence[PromptDefinition]) -> SyncReport:
    """Upsert the rows of ``definitions`` (see :meth:`PromptRegistry.sync_to_db`)."""
    report = SyncReport()
    with session_scope(url) as session:
        for definition in definitions:
            stored = {
                row.version: row
                for row in session.scalars(select(AIPrompt).where(AIPrompt.name == definition.name))
            }
            for number, version in definition.versions.items():
                row = stored.get(number)
                label = format_variant(definition.name, number)
                model_config = _prompt_model_config(version)
                if row is not None:
                    old_system = (row.model_config or {}).get("system")
                    if row.prompt_template != version.template or old_system != version.system:
                        raise PromptVersionConflictError(
                            f"prompt {definition.name} version {number}: the stored template "
                            f"differs from {definition.source or 'the definition'}; a stored "
                            f"version is immutable: add version {max(definition.versions) + 1} "
                            "with the new text instead"
                        )
                variables = {n: spec.to_dict() for n, spec in version.variables.items()}
                values = {
                    "category": definition.category,
                    "variables": variables,
                    "model_config": model_config,
                    "is_active": version.active,
                }
                if row is None:
                    session.add(
                        AIPrompt(
                            name=definition.name,
                            version=number,
                            prompt_template=version.template,
                            performance_stats={},
                            **values,
                        )
                    )
                    report.inserted.append(label)
                elif any(getattr(row, key) != value for key, value in values.items()):
                    for key, value in values.items():
                        setattr(row, key, value)
                    report.updated.append(label)
                else:
                    report.unchanged.append(label)
            for number, row in stored.items():
                if number not in definition.versions and row.is_active:
                    row.is_active = False
                    report.deactivated.append(format_variant(definition.name, number))
        session.flush()
    return report


def record_prompt_use(
    url: str,
    name: str,
    version: int,
    latency_ms: float,
    tokens: int,
    feedback: int | None = None,
    *,
    request_id: str | None = None,
    user_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    provider: str | None = None,
    model: str | None = None,
    cost_usd: Decimal | None = None,
    error_message: str | None = None,
) -> str:
    """Record one call made with a prompt version outside :class:`~textai.llm.service.LLMService`.

    Args:
        url: Database URL.
        name: Prompt name.
        version: Prompt version used.
        latency_ms: Provider latency.
        tokens: Input + output tokens.
        feedback: Optional feedback score (1-5).
        request_id: Idempotency key (default: a new uuid4 hex).
        user_id: Requesting user.
        team_id: Team of the user.
        provider: Provider that answered.
        model: Model that answered.
        cost_usd: Cost of the call.
        error_message: Error, when the call failed.

    Returns:
        The request id of the recorded ``ai_interactions`` row (for :func:`record_feedback`).
    """
    if feedback is not None:
        check_feedback(feedback)
    request_id = request_id or uuid.uuid4().hex
    record = InteractionRecord(
        interaction_type="llm",
        input_data={"prompt": name, "prompt_version": version},
        output_data={},
        model_used=model,
        response_time_ms=round(latency_ms),
        user_id=user_id,
        tokens_used=tokens,
        error_message=error_message,
        team_id=team_id,
        feature=name,
        provider=provider,
        variant=format_variant(name, version),
        request_id=request_id,
        cost_usd=cost_usd,
    )
    row = record.to_row()
    row.feedback_score = feedback
    with session_scope(url) as session:
        session.add(row)
    return request_id


def check_feedback(score: int) -> int:
    """Return ``score`` when it is an integer from 1 to 5.

    Raises:
        ValueError: Otherwise.
    """
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValueError(f"feedback score must be an integer from 1 to 5, got {score!r}")
    if not FEEDBACK_MIN <= score <= FEEDBACK_MAX:
        raise ValueError(f"feedback score must be from 1 to 5, got {score}")
    return score


def record_feedback(url: str, request_id: str, score: int) -> None:
    """Set the feedback score (1 = bad ... 5 = excellent) of a recorded call.

    Raises:
        ValueError: When the score is not an integer from 1 to 5.
        InteractionNotFoundError: When no call has that request id.
    """
    check_feedback(score)
    with session_scope(url) as session:
        row = session.scalar(select(AIInteraction).where(AIInteraction.request_id == request_id))
        if row is None:
            raise InteractionNotFoundError(f"no recorded AI call has request id {request_id!r}")
        row.feedback_score = score


def _to_float(value: Any, digits: int = 3) -> float | None:
    """Return a SQL aggregate as a rounded float (``None`` stays ``None``)."""
    return None if value is None else round(float(value), digits)


def prompt_stats(url: str, name: str) -> list[dict[str, Any]]:
    """Return per-version performance stats of a prompt and store them in ``ai_prompts``.

    Stats come from the ``ai_interactions`` rows whose ``variant`` is ``<name>@v<version>``:
    ``calls`` (every row), ``errors`` (rows with an error message), ``mean_latency_ms`` and
    ``mean_tokens`` (over successful calls), ``mean_feedback`` and ``feedback_count`` (rows
    with a 1-5 feedback score). Versions stored in ``ai_prompts`` without calls are listed with
    zero calls. Each version's stats (with ``computed_at``) are written to its
    ``ai_prompts.performance_stats``.

    Args:
        url: Database URL.
        name: Prompt name.

    Returns:
        One dict per version, by version number.
    """
    prefix = f"{name}@v"
    ok = AIInteraction.error_message.is_(None)
    query = (
        select(
            AIInteraction.variant,
            func.count(),
            func.count(AIInteraction.error_message),
            func.avg(case((ok, AIInteraction.response_time_ms))),
            func.avg(case((ok, AIInteraction.tokens_used))),
            func.avg(AIInteraction.feedback_score),
            func.count(AIInteraction.feedback_score),
        )
        .where(AIInteraction.variant.startswith(prefix, autoescape=True))
        .group_by(AIInteraction.variant)
    )
    now = dt.datetime.now(dt.UTC).isoformat()
    stats: dict[int, dict[str, Any]] = {}
    with session_scope(url) as session:
        for variant, calls, errors, latency, tokens, feedback, feedbacks in session.execute(query):
            parsed = parse_variant(variant)
            if parsed is None or parsed[0] != name:
                continue
            stats[parsed[1]] = {
                "version": parsed[1],
                "calls": int(calls),
                "errors": int(errors),
                "mean_latency_ms": _to_float(latency),
                "mean_tokens": _to_float(tokens),
                "mean_feedback": _to_float(feedback),
                "feedback_count": int(feedbacks),
            }
        rows = session.scalars(select(AIPrompt).where(AIPrompt.name == name)).all()
        for row in rows:
            entry = stats.setdefault(
                row.version,
                {
                    "version": row.version,
                    "calls": 0,
                    "errors": 0,
                    "mean_latency_ms": None,
                    "mean_tokens": None,
                    "mean_feedback": None,
                    "feedback_count": 0,
                },
            )
            row.performance_stats = {**entry, "computed_at": now}
    return [stats[version] for version in sorted(stats)]
