"""Parse, validate and render prompt files (configs/prompts/*.yaml) in a sandboxed Jinja2."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from textai.llm.prompt_model import (
    DEFAULT_PROVIDER,
    FILE_KEYS,
    MODEL_CONFIG_KEYS,
    NAME_PATTERN,
    TEST_KEYS,
    VARIABLE_KEYS,
    VARIABLE_TYPES,
    VERSION_KEYS,
    Assertion,
    PromptDefinition,
    PromptError,
    PromptLoadError,
    PromptModelConfig,
    PromptTestCase,
    PromptVariableError,
    PromptVersion,
    RenderedPrompt,
    VariableSpec,
)


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
