"""The LLM path of query parsing: prompt, validation of the answer, fallback to the rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.support.llm_wire_server import OPENAI_PATH, running_wire_server
from tests.support.scripted_llm import ScriptedProvider, client_for
from textai.llm.prompt_parsing import parse_prompt
from textai.llm.prompts import PromptRegistry
from textai.search.filter_schema import QueryFilters
from textai.search.query_llm import parse_with_llm, parsed_from_answer
from textai.search.query_model import Filter, QueryVocabulary

TODAY = dt.date(2026, 5, 15)
KEY_ENV = "HASTE_TEST_SEARCH_LLM_KEY"
QUERY = "healthcare deals that are not closed won"
ANSWER = {
    "entity_types": ["deal"],
    "filters": [
        {"field": "industry", "op": "==", "value": "healthcare"},
        {"field": "stage", "op": "!=", "value": "closed_won"},
    ],
    "text": "",
    "intent": "filter_list",
}


def test_a_valid_answer_is_the_parse_and_the_prompt_carries_schema_and_values() -> None:
    local = ScriptedProvider("local", "Sure:\n```json\n" + json.dumps(ANSWER) + "\n```")
    client = client_for("http://127.0.0.1:9/v1", KEY_ENV, local=local)
    parsed = parse_with_llm(QUERY, TODAY, client=client, provider="local")
    assert (parsed.path, parsed.fallback_reason) == ("llm", None)
    assert parsed.entity_types == ("deal",)
    assert set(parsed.filters) == {
        Filter("industry", "==", "healthcare"),
        Filter("stage", "!=", "closed_won"),
    }
    (prompt,) = local.prompts
    assert QUERY in prompt and "2026-05-15" in prompt
    assert '"QueryFilters"' in prompt or '"FilterSpec"' in prompt  # the JSON schema
    assert "lead_score_band" in prompt and "closed_won" in prompt  # catalogue and values


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({**ANSWER, "filters": [{"field": "colour", "op": "==", "value": "red"}]},
         "unknown filter field"),
        ({**ANSWER, "filters": [{"field": "industry", "op": "==", "value": "aerospace"}]},
         "not a value of the data"),
        ({**ANSWER, "filters": [{"field": "amount", "op": ">", "value": "lots"}]},
         "not a number"),
        ({**ANSWER, "filters": [{"field": "created_at", "op": "!=", "value": "2026-01-01"}]},
         "does not apply"),
        ({**ANSWER, "colour": "red"}, "colour"),
        ({**ANSWER, "entity_types": ["planet"]}, "entity_types"),
    ],
)  # fmt: skip
def test_invalid_answers_fall_back_to_the_rules_with_the_reason(answer: dict, reason: str) -> None:
    client = client_for(
        "http://127.0.0.1:9/v1", KEY_ENV, local=ScriptedProvider("local", json.dumps(answer))
    )
    parsed = parse_with_llm(QUERY, TODAY, client=client, provider="local")
    assert parsed.path == "rules"
    assert "not a valid filter set" in parsed.fallback_reason and reason in parsed.fallback_reason
    assert Filter("stage", "!=", "closed_won") in parsed.filters  # the rules' own parse


def test_no_client_no_json_and_no_hosted_provider() -> None:
    assert parse_with_llm(QUERY, TODAY).fallback_reason is None  # no client: rules, no attempt
    with pytest.raises(ValueError, match="no JSON object"):
        parsed_from_answer("I cannot help", QUERY, QueryVocabulary())
    client = client_for("http://127.0.0.1:9/v1", KEY_ENV)
    parsed = parse_with_llm(QUERY, TODAY, client=client, provider="offline")
    assert parsed.path == "rules" and "no hosted LLM provider" in parsed.fallback_reason
    schema = QueryFilters.model_json_schema()
    assert schema["additionalProperties"] is False


def test_llm_path_over_the_openai_wire_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real OpenAI SDK against the local wire server, which echoes the prompt back."""
    monkeypatch.setenv(KEY_ENV, "wire-key")
    echo = parse_prompt(
        {
            "name": "search_filters",
            "versions": [
                {
                    "version": 3,
                    "template": "{{ query }}",
                    "variables": {
                        name: {"type": "str"} for name in ("query", "today", "catalogue", "schema")
                    },
                    "model_config": {"max_tokens": 2000},
                },
            ],
        }
    )
    with running_wire_server(api_key="wire-key") as server:
        client = client_for(server.openai_base_url, KEY_ENV)
        sent = parse_with_llm(QUERY, TODAY, client=client, provider="local")
        echoed = json.dumps(ANSWER)  # the echoed "query" is a filter set
        parsed = parse_with_llm(
            echoed, TODAY, client=client, provider="local",
            registry=PromptRegistry(definitions=[echo]),
        )  # fmt: skip
        first = server.get_requests(OPENAI_PATH)[0]
    prompt = first.body["messages"][-1]["content"]
    assert QUERY in prompt and '"FilterSpec"' in prompt and "activity.email_received" in prompt
    assert sent.path == "rules" and "not a valid filter set" in sent.fallback_reason
    assert parsed.path == "llm"
    assert Filter("stage", "!=", "closed_won") in parsed.filters
