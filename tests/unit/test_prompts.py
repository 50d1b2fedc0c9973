"""Prompt files: loading, validation, rendering, A/B versions, assertions and prompt tests."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from textai.llm.prompt_model import (
    Assertion,
    PromptLoadError,
    PromptNotFoundError,
    PromptVariableError,
    format_variant,
    parse_variant,
)
from textai.llm.prompt_parsing import parse_prompt
from textai.llm.prompt_records import check_feedback
from textai.llm.prompt_testing import run_prompt_tests
from textai.llm.prompts import PromptRegistry
from textai.llm.providers import LLMRequest, LLMResponse, Provider, ProviderError

EMAIL_PROMPT = """
name: email_compose
category: email
description: Compose an email.
versions:
  - version: 1
    system: "You are a helpful sales assistant writing to {{ recipient_name }}."
    template: |
      Write a {{ tone }} email to {{ recipient_name }} about {{ topic }}.
      {% for e in previous_emails %}
      Previous: {{ e }}
      {% endfor %}
    variables:
      recipient_name: {type: str, required: true, max_length: 20}
      tone: {type: str, enum: [formal, casual, friendly], default: friendly}
      topic: {type: str, default: "our product"}
      previous_emails: {type: list, required: false, default: []}
    model_config: {provider: default, temperature: 0.4, max_tokens: 400}
  - version: 2
    template: "Hi {{ recipient_name }}, {{ count }} seats at {{ price }} each{{ note or '' }}."
    variables:
      recipient_name: {type: str}
      count: {type: int, min: 1, max: 1000}
      price: {type: float}
      note: {type: str, required: false}
    model_config: {provider: openai, temperature: 0.0, max_tokens: 50}
ab_test: {1: 30, 2: 70}
tests:
  - name: formal tone
    version: 1
    variables: {recipient_name: Ada, tone: formal}
    assert:
      - {contains: "Ada"}
      - {not_contains: "@"}
      - {max_words: 200}
      - {min_words: 3}
      - {regex: "(?i)formal"}
  - name: seats
    version: 2
    variables: {recipient_name: Bob, count: 3, price: 9.5}
    assert:
      - {regex: "3 seats"}
      - {not_regex: "(?i)as an ai"}
"""


class EchoProvider(Provider):
    """Test double: answers the user message (or fails when told to)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.name = "echo"
        self.model = "echo-1"
        self.fail = fail
        self.requests: list[LLMRequest] = []

    def generate(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if self.fail:
            raise ProviderError("scripted failure", provider=self.name, retryable=False)
        text = request.messages[-1].content
        return LLMResponse(text, self.name, self.model, len(text.split()), 5, 1.5, 0.0)


def write_prompt(folder: Path, body: str, name: str = "email_compose") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture()
def registry(tmp_path: Path) -> PromptRegistry:
    write_prompt(tmp_path / "prompts", EMAIL_PROMPT)
    return PromptRegistry(tmp_path / "prompts")


def test_repo_prompts_load_with_versions_and_tests() -> None:
    registry = PromptRegistry()
    assert {"conversation_summary", "reply_suggestion"} <= set(registry.names())
    summary = registry.definition("conversation_summary")
    assert sorted(summary.versions) == [1, 2]
    assert sum(summary.ab_test.values()) == 100
    assert summary.tests and registry.definition("reply_suggestion").tests
    rendered = registry.render(
        "conversation_summary",
        {"transcript": "Rep: hello\nBuyer: send the proposal by Friday", "participants": ["Rep"]},
        version=2,
    )
    assert "send the proposal by Friday" in rendered.text
    assert "Participants: Rep" in rendered.text
    assert rendered.system and "[PERSON_1]" in rendered.system
    reply = registry.render("reply_suggestion", {"last_message": "Hi?", "sender_name": "Ada"})
    assert "from Ada." in reply.text and "Earlier messages" not in reply.text


def test_render_fills_defaults_and_model_config(registry: PromptRegistry) -> None:
    rendered = registry.render("email_compose", {"recipient_name": "Ada"}, version=1)
    assert rendered.text.startswith("Write a friendly email to Ada about our product.")
    assert rendered.system == "You are a helpful sales assistant writing to Ada."
    assert rendered.model_config.provider is None
    assert rendered.model_config.temperature == 0.4
    assert rendered.variables["previous_emails"] == []
    assert rendered.variant == "email_compose@v1"
    request = rendered.to_request({"request_id": "r1"})
    assert request.max_tokens == 400 and request.temperature == 0.4
    assert request.system == rendered.system and request.messages[0].content == rendered.text
    with_history = registry.render(
        "email_compose", {"recipient_name": "Ada", "previous_emails": ["one", "two"]}, version=1
    )
    assert "Previous: one\nPrevious: two" in with_history.text


def test_render_v2_types(registry: PromptRegistry) -> None:
    rendered = registry.render(
        "email_compose", {"recipient_name": "Bo", "count": 3, "price": 2}, version=2
    )
    assert rendered.text == "Hi Bo, 3 seats at 2.0 each."
    assert rendered.model_config.provider == "openai"
    assert registry.get("email_compose").version == 2


@pytest.mark.parametrize(
    ("variables", "variable", "fragment"),
    [
        ({"recipient_name": "Ada", "tone": "angry"}, "tone", "is not one of"),
        ({"recipient_name": "A" * 21}, "recipient_name", "exceeds max_length 20"),
        ({"recipient_name": 42}, "recipient_name", "expected str, got int"),
        ({"recipient_name": "Ada", "previous_emails": "x"}, "previous_emails", "expected list"),
        ({"recipient_name": "Ada", "colour": "red"}, "colour", "unknown variables ['colour']"),
        ({"tone": "formal"}, "recipient_name", "missing required variables ['recipient_name']"),
    ],
)
def test_invalid_variables_are_named(
    registry: PromptRegistry, variables: dict[str, object], variable: str, fragment: str
) -> None:
    with pytest.raises(PromptVariableError) as caught:
        registry.render("email_compose", variables, version=1)
    assert caught.value.variable == variable
    assert fragment in str(caught.value)
    assert variable in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"recipient_name": "B", "count": True, "price": 1.0}, "'count': expected int, got bool"),
        ({"recipient_name": "B", "count": 0, "price": 1.0}, "below min 1"),
        ({"recipient_name": "B", "count": 2, "price": "1"}, "'price': expected float"),
    ],
)
def test_numeric_variables(
    registry: PromptRegistry, variables: dict[str, object], fragment: str
) -> None:
    with pytest.raises(PromptVariableError, match=fragment):
        registry.render("email_compose", variables, version=2)


def test_unknown_prompt_and_version(registry: PromptRegistry) -> None:
    with pytest.raises(PromptNotFoundError, match="unknown prompt 'nope'"):
        registry.get("nope")
    with pytest.raises(PromptNotFoundError, match="no version 9"):
        registry.render("email_compose", {"recipient_name": "A"}, version=9)


def test_undeclared_template_variable_is_a_load_error_naming_the_file(tmp_path: Path) -> None:
    body = EMAIL_PROMPT.replace("about {{ topic }}", "about {{ topic }} for {{ company }}")
    path = write_prompt(tmp_path / "p", body)
    with pytest.raises(PromptLoadError) as caught:
        PromptRegistry(tmp_path / "p")
    assert str(path) in str(caught.value)
    assert "undeclared variables ['company']" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("ab_test: {1: 30, 2: 70}", "ab_test: {1: 30, 2: 60}", "must sum to 100, got 90"),
        ("ab_test: {1: 30, 2: 70}", "ab_test: {1: 30, 3: 70}", "unknown version 3"),
        ('{contains: "Ada"}', '{startswith: "Ada"}', "unknown assertion 'startswith'"),
        ('{regex: "3 seats"}', '{regex: "("}', "invalid regex"),
        ("  - version: 2\n", "  - version: 1\n", "version 1 twice"),
        ("{type: int, min: 1, max: 1000}", "{type: integer}", "'integer' is not one of"),
        ("tone: {type: str, enum", "tone: {type: str, colour: red, enum", "unknown keys"),
        ("tone: formal}", "tone: shouty}", "tests[0] (formal tone)"),
        ("temperature: 0.4", "temperature: 3", "temperature: must be in [0, 2]"),
        ("temperature: 0.4", "temperature: 0.4, model: gpt", "unknown keys ['model']"),
        ("{{ tone }} email", "{{ tone } email", "invalid Jinja2 template"),
        ("default: friendly", "default: loud", "default"),
        (
            "{type: str, required: true, max",
            "{type: str, default: x, required: true, max",
            "a required variable cannot have a default",
        ),
    ],
)
def test_load_errors(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    assert old in EMAIL_PROMPT
    path = write_prompt(tmp_path / "p", EMAIL_PROMPT.replace(old, new, 1))
    with pytest.raises(PromptLoadError) as caught:
        PromptRegistry(tmp_path / "p")
    assert fragment in str(caught.value)
    assert str(path) in str(caught.value)


def test_file_name_must_match_prompt_name(tmp_path: Path) -> None:
    write_prompt(tmp_path / "p", EMAIL_PROMPT, name="other")
    with pytest.raises(PromptLoadError, match="must match the file name"):
        PromptRegistry(tmp_path / "p")


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PromptLoadError, match="does not exist"):
        PromptRegistry(tmp_path / "absent")


def test_strict_undefined_attribute_is_a_variable_error() -> None:
    definition = parse_prompt(
        {
            "name": "lookup",
            "versions": [
                {"version": 1, "template": "{{ contact.name }}", "variables": {"contact": "dict"}}
            ],
        }
    )
    registry = PromptRegistry(definitions=[definition])
    assert registry.render("lookup", {"contact": {"name": "Ada"}}).text == "Ada"
    with pytest.raises(PromptVariableError, match="rendering failed"):
        registry.render("lookup", {"contact": {}})


def test_default_split_is_latest_active_version() -> None:
    definition = parse_prompt(
        {
            "name": "p",
            "versions": [
                {"version": 1, "template": "a"},
                {"version": 2, "template": "b"},
                {"version": 3, "template": "c", "active": False},
            ],
        }
    )
    assert definition.ab_test == {2: 100}
    registry = PromptRegistry(definitions=[definition])
    assert {registry.choose_version("p", f"s{i}") for i in range(200)} == {2}
    assert registry.get("p").version == 2


def test_ab_choice_is_sticky_and_proportional(registry: PromptRegistry, tmp_path: Path) -> None:
    subjects = [f"contact-{i}" for i in range(10_000)]
    first = [registry.choose_version("email_compose", s) for s in subjects]
    write_prompt(tmp_path / "again", EMAIL_PROMPT)
    again = PromptRegistry(tmp_path / "again")
    assert first == [again.choose_version("email_compose", s) for s in subjects]
    counts = Counter(first)
    assert set(counts) == {1, 2}
    assert abs(counts[1] / len(subjects) - 0.30) < 0.02
    assert abs(counts[2] / len(subjects) - 0.70) < 0.02


@pytest.mark.parametrize(
    ("raw", "output", "passed"),
    [
        ({"contains": "ada"}, "Dear Ada,", True),
        ({"contains": "bob"}, "Dear Ada,", False),
        ({"not_contains": "@"}, "mail me at a@b.c", False),
        ({"not_contains": "@"}, "no address", True),
        ({"regex": "(?i)^dear"}, "dear Ada", True),
        ({"regex": "^dear"}, "Dear Ada", False),
        ({"not_regex": "(?i)as an ai"}, "As an AI, I cannot", False),
        ({"min_words": 3}, "one two", False),
        ({"min_words": 2}, "one two", True),
        ({"max_words": 2}, "one two three", False),
        ({"max_chars": 5}, "12345", True),
        ({"max_chars": 4}, "12345", False),
    ],
)
def test_assertions(raw: dict[str, object], output: str, passed: bool) -> None:
    outcome = Assertion.parse(raw, "test").evaluate(output)
    assert outcome.passed is passed
    assert outcome.to_dict()["kind"] == next(iter(raw))


@pytest.mark.parametrize("raw", [{"contains": ""}, {"max_words": -1}, {"a": 1, "b": 2}, "x"])
def test_bad_assertions(raw: object) -> None:
    with pytest.raises(PromptLoadError):
        Assertion.parse(raw, "test")


def test_run_prompt_tests_with_a_provider(registry: PromptRegistry) -> None:
    provider = EchoProvider()
    report = run_prompt_tests(registry, "email_compose", provider)
    assert [(r.version, r.case_name) for r in report.results] == [
        (1, "formal tone"),
        (2, "seats"),
    ]
    assert report.pass_rate_by_version() == {1: 1.0, 2: 1.0}
    assert report.passed
    assert provider.requests[0].system == "You are a helpful sales assistant writing to Ada."
    markdown = report.to_markdown()
    assert "| v1 | 1/1 | 100% |" in markdown and "formal tone" in markdown
    only_v2 = run_prompt_tests(registry, "email_compose", provider, versions=[2])
    assert [r.version for r in only_v2.results] == [2]


def test_run_prompt_tests_reports_failures(registry: PromptRegistry) -> None:
    report = run_prompt_tests(registry, "email_compose", EchoProvider(fail=True))
    assert not report.passed
    assert report.pass_rate_by_version() == {1: 0.0, 2: 0.0}
    assert all("scripted failure" in (r.error or "") for r in report.results)
    assert "error: LLM provider 'echo' failed" in report.to_markdown()


def test_variant_and_feedback_helpers() -> None:
    assert format_variant("email_compose", 3) == "email_compose@v3"
    assert parse_variant("email_compose@v3") == ("email_compose", 3)
    assert parse_variant("champion") is None
    assert check_feedback(5) == 5
    for bad in (0, 6, True, 2.5):
        with pytest.raises(ValueError, match="1 to 5"):
            check_feedback(bad)  # type: ignore[arg-type]
