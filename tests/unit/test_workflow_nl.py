"""Descriptions -> workflow definitions: the offline rules on labelled phrasings, the LLM path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.llm_wire_server import OPENAI_PATH, running_wire_server
from tests.support.scripted_llm import ScriptedProvider, client_for
from textai.llm.prompt_parsing import parse_prompt
from textai.llm.prompts import PromptRegistry
from workflows.definition import WorkflowDefinition
from workflows.nl_llm import definition_from_answer, definition_from_text
from workflows.nl_parser import parse_workflow_text

PHRASINGS = yaml.safe_load((Path(__file__).parent / "workflow_phrasings.yaml").read_text("utf-8"))
CASES = PHRASINGS["phrasings"] + PHRASINGS["held_out"]
KEY_ENV = "HASTE_TEST_WORKFLOW_LLM_KEY"
#: Every workflow prompt carries the JSON schema of the answer.
SCHEMA_PHRASE = "JSON schema of the answer"


def scripted(answer: str) -> ScriptedProvider:
    """Return a ``local`` provider double answering ``answer`` (it checks the schema is sent)."""
    return ScriptedProvider("local", answer, SCHEMA_PHRASE)


HOT_CALL = {
    "name": "Call hot leads",
    "trigger": {"type": "score_band", "to_band": "hot"},
    "conditions": [{"field": "company.industry", "op": "eq", "value": "healthcare"}],
    "actions": [
        {"id": "call", "type": "create_task", "params": {"title": "Call", "channel": "call"}}
    ],
}


def mismatches(case: dict[str, Any], definition: WorkflowDefinition) -> list[str]:
    """Return how a parsed definition differs from a labelled case (empty: fully right)."""
    got = definition.model_dump(mode="json")
    wrong = [f"trigger.{k}={got['trigger'].get(k)!r}" for k, v in case["trigger"].items()
             if got["trigger"].get(k) != v]  # fmt: skip
    conditions = sorted(json.dumps([c["field"], c["op"], c["value"]]) for c in got["conditions"])
    if conditions != sorted(json.dumps(c) for c in case.get("conditions", [])):
        wrong.append(f"conditions {conditions}")
    if len(got["actions"]) != len(case["actions"]):
        return [*wrong, f"actions {got['actions']}"]
    for action, expected in zip(got["actions"], case["actions"], strict=True):
        have = {**action["params"], "type": action["type"], "after": action["after"]}
        wrong += [f"action {k}={have.get(k)!r}" for k, v in expected.items() if have.get(k) != v]
    return wrong


def test_offline_rules_get_nine_in_ten_labelled_phrasings_fully_right() -> None:
    failures = {}
    for case in CASES:
        try:
            problems = mismatches(case, parse_workflow_text(case["text"])[0])
        except ValueError as error:
            problems = [str(error)]
        if problems:
            failures[case["text"]] = problems
    assert len(CASES) >= 40
    assert 1 - len(failures) / len(CASES) >= 0.9, failures


@pytest.mark.parametrize("case", PHRASINGS["refusals"], ids=lambda case: case["text"][:30])
def test_offline_rules_refuse_what_they_cannot_read(case: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=case["error"]):
        parse_workflow_text(case["text"])


def test_the_issue_example_and_what_the_rules_report() -> None:
    text = "When a hot lead has not been contacted in 3 days, create a call task for the owner"
    definition, unread, assumptions = parse_workflow_text(text)
    assert definition.model_dump(include={"trigger", "conditions"}) == {
        "trigger": {"type": "schedule", "every": "day", "at_hour": 9},
        "conditions": [
            {"field": "contact.days_since_last_contacted", "op": "gte", "value": 3},
            {"field": "score.band", "op": "eq", "value": "hot"},
        ],
    }
    assert unread == [] and "daily" in assumptions[0]
    _, unread, _ = parse_workflow_text("When a lead becomes hot, create a call task due tomorrow")
    assert unread == ["due tomorrow"]
    definition, unread, _ = parse_workflow_text("When a lead replies, do not email them, call them")
    assert [a.type for a in definition.actions] == ["create_task"]
    assert "negated" in unread[0]
    with pytest.raises(ValueError, match="banana"):
        parse_workflow_text("When a contact replies, set lifecycle stage to banana")


def test_llm_answer_is_validated_and_offline_rules_are_the_fallback() -> None:
    text = "When a lead in healthcare becomes hot, call them"
    fenced = "Here it is:\n```json\n" + json.dumps(HOT_CALL) + "\n```"
    client = client_for("http://127.0.0.1:9/v1", KEY_ENV, SCHEMA_PHRASE, local=scripted(fenced))
    parsed = definition_from_text(text, client=client, provider="local")
    assert (parsed.path, parsed.provider, parsed.prompt_version) == ("llm", "local", 1)
    assert parsed.definition.description == text
    bad = {**HOT_CALL, "trigger": {"type": "event", "event_type": "became_hot"}}
    client = client_for(
        "http://127.0.0.1:9/v1", KEY_ENV, SCHEMA_PHRASE, local=scripted(json.dumps(bad))
    )
    fallback = definition_from_text(text, client=client, provider="local")
    assert fallback.path == "offline" and "event_type" in fallback.fallback_reason
    assert fallback.to_dict()["definition"]["trigger"]["to_band"] == "hot"
    assert definition_from_text(text).fallback_reason is None  # no client: offline, no attempt
    with pytest.raises(ValueError, match="not in the description"):
        hook = {"id": "n", "type": "notify_webhook", "params": {"url": "https://evil.example"}}
        invented = {**HOT_CALL, "actions": [hook]}
        definition_from_answer(json.dumps(invented), text)
    with pytest.raises(ValueError, match=r"could not find an action in .*; the LLM answer"):
        definition_from_text("When a lead becomes hot", client=client, provider="local")


def test_llm_path_over_the_openai_wire_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real OpenAI SDK against the local wire server, which echoes the prompt back."""
    monkeypatch.setenv(KEY_ENV, "wire-key")
    echo = parse_prompt(
        {
            "name": "workflow_from_text",
            "versions": [
                {
                    "version": 7,
                    "template": "{{ description }}",
                    "variables": {
                        name: {"type": "str"} for name in ("description", "catalogue", "schema")
                    },
                    "model_config": {"max_tokens": 2000},
                },
            ],
        }
    )
    with running_wire_server(api_key="wire-key") as server:
        client = client_for(server.openai_base_url, KEY_ENV, SCHEMA_PHRASE)
        sent = definition_from_text("When a lead becomes hot, call them", client=client,
                                    provider="local")  # fmt: skip
        text = json.dumps(HOT_CALL)  # the echoed "description" is a definition
        parsed = definition_from_text(text, client=client, registry=PromptRegistry(
            definitions=[echo]), provider="local")  # fmt: skip
        (first, _) = server.get_requests(OPENAI_PATH)
    prompt = first.body["messages"][-1]["content"]
    assert "When a lead becomes hot" in prompt and "contact.days_since_last_contacted" in prompt
    assert '"WorkflowDefinition"' in prompt  # the JSON schema travels in the prompt
    assert sent.path == "offline" and "not a valid workflow" in sent.fallback_reason
    assert (parsed.path, parsed.provider, parsed.prompt_version) == ("llm", "local", 7)
    assert parsed.definition.trigger.type == "score_band"
