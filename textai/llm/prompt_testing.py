"""Prompt tests: run a prompt file's test cases against a provider and store the results.

Each case of a prompt's ``tests`` (see :mod:`textai.llm.prompts`) is rendered for every
selected version it targets, sent to the provider (an :class:`~textai.llm.client.LLMClient`,
optionally starting at a named provider, or a bare :class:`~textai.llm.providers.Provider`),
and its assertions are evaluated on the answer. A provider error fails the case (the error is
kept). With a database URL, one ``prompt_test_results`` row per (version, case) is stored,
all with the run's ``run_id``; the prompt's ``ai_prompts`` rows are synced first.

Test calls are neither recorded in ``ai_interactions`` nor charged to budgets, and they skip
the response cache, so a test always reaches the provider.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from haste.db.models import PromptTestResult
from haste.db.session import session_scope
from textai.llm.client import LLMClient
from textai.llm.prompt_model import (
    AssertionOutcome,
    PromptError,
    PromptTestCase,
    evaluate_assertions,
)
from textai.llm.prompts import PromptRegistry
from textai.llm.providers import LLMRequest, LLMResponse, Provider, ProviderError


@dataclass(frozen=True)
class CaseResult:
    """One test case run against one prompt version.

    Attributes:
        version: Prompt version.
        case_name: Test case name.
        passed: Whether the call succeeded and every assertion held.
        assertions: Each assertion's outcome (empty when the call failed).
        output: The generated text (``""`` when the call failed).
        provider: Provider that answered (or failed).
        model: Model that answered.
        latency_ms: Latency of the call.
        tokens_used: Input + output tokens.
        error: The provider or rendering error, if any.
    """

    version: int
    case_name: str
    passed: bool
    assertions: list[AssertionOutcome]
    output: str
    provider: str | None
    model: str | None
    latency_ms: float | None
    tokens_used: int | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "version": self.version,
            "case_name": self.case_name,
            "passed": self.passed,
            "assertions": [outcome.to_dict() for outcome in self.assertions],
            "output": self.output,
            "provider": self.provider,
            "model": self.model,
            "latency_ms": self.latency_ms,
            "tokens_used": self.tokens_used,
            "error": self.error,
        }


@dataclass
class PromptTestReport:
    """The results of one prompt test run.

    Attributes:
        run_id: Shared by every stored result of the run.
        prompt_name: The prompt tested.
        provider: The provider requested (``None``: each version's configured provider).
        results: One result per (version, case), by version then case order.
    """

    run_id: str
    prompt_name: str
    provider: str | None
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every case passed (``False`` when there were no cases)."""
        return bool(self.results) and all(result.passed for result in self.results)

    def pass_rate_by_version(self) -> dict[int, float]:
        """Return the share of passing cases per version, in [0, 1]."""
        rates: dict[int, float] = {}
        for version in sorted({result.version for result in self.results}):
            cases = [r for r in self.results if r.version == version]
            rates[version] = sum(r.passed for r in cases) / len(cases)
        return rates

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "run_id": self.run_id,
            "prompt_name": self.prompt_name,
            "provider": self.provider,
            "passed": self.passed,
            "pass_rate_by_version": {
                str(version): rate for version, rate in self.pass_rate_by_version().items()
            },
            "results": [result.to_dict() for result in self.results],
        }

    def to_markdown(self) -> str:
        """Return a Markdown report: pass rate per version, then one row per case."""
        lines = [
            f"## Prompt tests: {self.prompt_name} (run {self.run_id})",
            "",
            "| version | passed | pass rate |",
            "|---|---|---|",
        ]
        for version, rate in self.pass_rate_by_version().items():
            cases = [r for r in self.results if r.version == version]
            passed = sum(r.passed for r in cases)
            lines.append(f"| v{version} | {passed}/{len(cases)} | {rate:.0%} |")
        lines += [
            "",
            "| version | case | result | provider | latency ms | tokens | failed checks |",
            "|---|---|---|---|---|---|---|",
        ]
        for result in self.results:
            failed = [
                f"{outcome.kind} {outcome.expected!r} ({outcome.detail})"
                for outcome in result.assertions
                if not outcome.passed
            ]
            if result.error:
                failed.insert(0, f"error: {result.error}")
            latency = "" if result.latency_ms is None else f"{result.latency_ms:.0f}"
            tokens = "" if result.tokens_used is None else str(result.tokens_used)
            lines.append(
                f"| v{result.version} | {_escape(result.case_name)} | "
                f"{'pass' if result.passed else 'FAIL'} | {result.provider or ''} | {latency} | "
                f"{tokens} | {_escape('; '.join(failed))} |"
            )
        return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """Return text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _generate(
    client_or_provider: LLMClient | Provider,
    request: LLMRequest,
    provider: str | None,
) -> LLMResponse:
    """Call the client (starting at ``provider``, cache bypassed) or the bare provider."""
    if isinstance(client_or_provider, LLMClient):
        return client_or_provider.generate(request, provider=provider, use_cache=False)
    return client_or_provider.generate(request)


def _provider_label(client_or_provider: LLMClient | Provider, provider: str | None) -> str | None:
    """Return the provider a call is expected to start at (for failures)."""
    if isinstance(client_or_provider, LLMClient):
        return provider or client_or_provider.config.default_provider
    return getattr(client_or_provider, "name", None)


def run_prompt_tests(
    registry: PromptRegistry,
    name: str,
    client_or_provider: LLMClient | Provider,
    *,
    url: str | None = None,
    versions: Sequence[int] | None = None,
    provider: str | None = None,
) -> PromptTestReport:
    """Run a prompt's test cases against a provider and evaluate their assertions.

    Args:
        registry: The prompts.
        name: Prompt to test.
        client_or_provider: An :class:`LLMClient` (fallbacks apply) or a bare provider.
        url: Database URL; when given, one ``prompt_test_results`` row per result is stored.
        versions: Versions to test (default: every active version).
        provider: With a client: the provider to start at (default: each version's
            ``model_config.provider``, else the client's default provider).

    Returns:
        The report (``run_id``, results, pass rate per version, Markdown).

    Raises:
        PromptNotFoundError: When the prompt or a requested version does not exist.
    """
    definition = registry.definition(name)
    selected = (
        [registry.get(name, v).version for v in versions]
        if versions is not None
        else [v.version for v in definition.versions.values() if v.active]
    )
    report = PromptTestReport(run_id=uuid.uuid4().hex, prompt_name=name, provider=provider)
    for version in selected:
        for case in definition.tests:
            if case.version is not None and case.version != version:
                continue
            report.results.append(
                _run_case(registry, name, version, case, client_or_provider, provider)
            )
    if url is not None:
        store_test_results(registry, url, report)
    return report


def _run_case(
    registry: PromptRegistry,
    name: str,
    version: int,
    case: PromptTestCase,
    client_or_provider: LLMClient | Provider,
    provider: str | None,
) -> CaseResult:
    """Render, call and check one case."""
    try:
        rendered = registry.render(name, case.variables, version)
    except PromptError as exc:
        return CaseResult(version, case.name, False, [], "", None, None, None, None, str(exc))
    start_at = provider or rendered.model_config.provider
    request = rendered.to_request({"prompt_test": True, "case": case.name})
    started = time.perf_counter()
    try:
        response = _generate(client_or_provider, request, start_at)
    except ProviderError as exc:
        latency = round((time.perf_counter() - started) * 1000.0, 3)
        label = _provider_label(client_or_provider, start_at)
        return CaseResult(version, case.name, False, [], "", label, None, latency, None, str(exc))
    outcomes = evaluate_assertions(case.assertions, response.text)
    return CaseResult(
        version=version,
        case_name=case.name,
        passed=all(outcome.passed for outcome in outcomes),
        assertions=outcomes,
        output=response.text,
        provider=response.provider,
        model=response.model,
        latency_ms=response.latency_ms,
        tokens_used=response.input_tokens + response.output_tokens,
    )


def store_test_results(registry: PromptRegistry, url: str, report: PromptTestReport) -> int:
    """Store one ``prompt_test_results`` row per result of a report (one transaction).

    Returns:
        Rows stored.
    """
    ids = registry.prompt_ids(url, report.prompt_name)
    rows = [
        PromptTestResult(
            prompt_id=ids[result.version],
            run_id=report.run_id,
            case_name=result.case_name[:255],
            provider=(result.provider or "")[:50] or None,
            model=(result.model or "")[:100] or None,
            passed=result.passed,
            assertions={
                "checks": [outcome.to_dict() for outcome in result.assertions],
                "error": result.error,
            },
            output=result.output,
            latency_ms=None if result.latency_ms is None else round(result.latency_ms),
            tokens_used=result.tokens_used,
        )
        for result in report.results
    ]
    with session_scope(url) as session:
        session.add_all(rows)
    return len(rows)
