"""Versioned prompts as data: variables, model settings, assertions, versions and errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textai.llm.providers import LLMRequest

VARIABLE_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}


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
