"""Write the executive summary from its figures: a hosted LLM if one is configured, else templates.

Every sentence that states a number ends with the citations of the figures it uses, e.g.
``... worth $12,500 [pipeline.open_value].``, so each number links back to its named query
(:mod:`insights.executive_queries`).

* :func:`write_offline` is the offline writer: fixed sentence templates per section whose
  placeholders (``{pipeline.open_value}``, ``{ai.calls_week:trend}``, ``{x:n|deal}``) are filled
  from the figures and cite them.
* :func:`check_summary` validates any summary against the figures: every citation must name a
  figure, every sentence stating a number must cite a figure, and every number must be a value of
  a figure its sentence cites (value, previous week, change or change in percent; ``12.5k``,
  ``$12,500`` and ``62.5%`` are read with the tolerance of their rounding). The week's own dates
  are the only other numbers allowed.
* :func:`write_summary` asks the LLM layer (prompt ``executive_summary``,
  ``configs/prompts/executive_summary.yaml``) when a hosted provider is on the route, keeps the
  answer only if :func:`check_summary` finds nothing, and otherwise writes the template summary
  with a ``fallback_reason`` (the pattern of :mod:`workflows.nl_llm`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from insights.executive_queries import SECTIONS

PROMPT_NAME = "executive_summary"
#: ``ai_interactions.feature`` of the LLM calls (budgets and usage roll-ups).
FEATURE = "executive_summary"
#: A ``generate(prompt_name, variables) -> text`` function (the LLM service's).
GenerateText = Callable[[str, dict[str, Any]], str]

_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z_]+)+)(?::([a-z]+)(?:\|([A-Za-z -]+))?)?\}")
_CITATION = re.compile(r"\[([^\[\]\n]*)\]")
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_NUMBER = re.compile(
    r"(?<![\w.])[$€£]?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?P<suffix>bn|k|K|m|M|B)?(?P<pct>%)?(?![\w])"
)
_SUFFIX = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "bn": 1e9, "B": 1e9}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


# --- numbers -----------------------------------------------------------------------------------


def format_value(value: Any, unit: str) -> str:
    """Return a figure for people: ``$12,487``, ``$0.1235``, ``62.5%``, ``54.3`` or ``1,204``."""
    if value is None:
        return "n/a"
    number = float(value)
    if unit == "usd":
        if number == 0:
            return "$0"
        if abs(number) >= 1000:
            return f"${number:,.0f}"
        if abs(number) >= 1:
            return f"${number:,.2f}"
        return f"${number:.4f}"
    if unit == "ratio":
        return f"{100 * number:.1f}%"
    if unit == "score":
        return f"{number:.1f}"
    return f"{round(number):,}" if number == int(number) else f"{number:,.2f}"


def read_numbers(text: str) -> list[tuple[str, float, float, bool]]:
    """Return the numbers of a text: (as written, value, rounding tolerance, is a percent)."""
    out = []
    for match in _NUMBER.finditer(text):
        digits = match.group("int").replace(",", "")
        frac = match.group("frac") or ""
        scale = _SUFFIX.get(match.group("suffix") or "", 1.0)
        value = float(f"{digits}.{frac}" if frac else digits) * scale
        tolerance = 0.5 * 10 ** (-len(frac)) * scale + 1e-9 * abs(value)
        out.append((match.group(0), value, tolerance, bool(match.group("pct"))))
    return out


def _allowed(figure: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """Return the numbers a figure allows: (plain numbers, percentages)."""
    plain: list[float] = []
    pct: list[float] = []
    ratio = figure.get("unit") == "ratio"
    for key in ("value", "previous", "change"):
        number = figure.get(key)
        if number is None or not math.isfinite(float(number)):
            continue
        plain.append(abs(float(number)))
        if ratio:
            pct.append(abs(100 * float(number)))
    if figure.get("change_pct") is not None:
        pct.append(abs(float(figure["change_pct"])))
    return plain + pct, pct


# --- parsing and validation ---------------------------------------------------------------------


def _clean(text: str) -> str:
    """Return sentence text without its citations (and the spaces before them)."""
    return re.sub(r"\s+([.,;:!?])", r"\1", _CITATION.sub("", text)).strip()


def split_sentences(markdown: str) -> list[tuple[str | None, str]]:
    """Return (section title, sentence) pairs of a markdown summary, in order."""
    out: list[tuple[str | None, str]] = []
    title: str | None = None
    for line in markdown.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            level = len(stripped) - len(stripped.lstrip("#"))
            if level >= 2:
                title = stripped.lstrip("#").strip()
            continue
        body = re.sub(r"^[-*]\s+", "", stripped)
        out.extend((title, sentence) for sentence in _SENTENCE_END.split(body) if sentence)
    return out


def parse_summary(markdown: str) -> list[dict[str, Any]]:
    """Return the sections of a summary: ``title`` and ``sentences`` (``text``, ``citations``)."""
    sections: list[dict[str, Any]] = []
    for title, sentence in split_sentences(markdown):
        if not sections or sections[-1]["title"] != title:
            sections.append({"title": title or "Summary", "sentences": []})
        cited = [c.strip() for c in _CITATION.findall(sentence)]
        sections[-1]["sentences"].append({"text": _clean(sentence), "citations": cited})
    return sections


def check_summary(
    markdown: str, figures: Sequence[Mapping[str, Any]], week_dates: Sequence[str] = ()
) -> list[str]:
    """Return what is wrong with a summary (empty when every number and citation holds).

    Args:
        markdown: The summary.
        figures: The figures (``name``, ``unit``, ``value``, ``previous``, ``change``,
            ``change_pct``).
        week_dates: ISO dates the text may state (the week's first and last day).

    Returns:
        Problems, one sentence each, in reading order.
    """
    by_name = {figure["name"]: figure for figure in figures}
    problems: list[str] = []
    for line in markdown.splitlines():
        heading = line.strip()
        if heading.startswith("#") and re.search(r"\d", _week_dates_removed(heading, week_dates)):
            problems.append(f"a heading states a number: {heading[:80]!r}")
    cited_any = False
    for _, sentence in split_sentences(markdown):
        names = [c.strip() for c in _CITATION.findall(sentence)]
        unknown = [name for name in names if name not in by_name]
        problems.extend(f"unknown citation [{name}]" for name in unknown)
        known = [by_name[name] for name in names if name in by_name]
        cited_any = cited_any or bool(known)
        text = _CITATION.sub(" ", sentence)
        for date in _ISO_DATE.findall(text):
            if date not in week_dates:
                problems.append(f"date {date} is not the week's")
        text = _ISO_DATE.sub(" ", text)
        numbers = read_numbers(text)
        if re.search(r"\d", _NUMBER.sub(" ", text)):
            problems.append(f"unreadable number in {_clean(sentence)[:80]!r}")
        if numbers and not known:
            problems.append(f"{numbers[0][0]!r} is stated without citing a figure")
            continue
        for written, value, tolerance, is_pct in numbers:
            candidates = [
                number
                for figure in known
                for number in (_allowed(figure)[1] if is_pct else _allowed(figure)[0])
            ]
            if not any(abs(value - number) <= tolerance for number in candidates):
                cites = " ".join(f"[{figure['name']}]" for figure in known)
                problems.append(f"{written!r} is not a value of the figures it cites ({cites})")
    if not cited_any:
        problems.append("the summary cites no figure")
    return problems


def _week_dates_removed(text: str, week_dates: Sequence[str]) -> str:
    """Return ``text`` without the week's own dates."""
    for date in week_dates:
        text = text.replace(date, " ")
    return text


# --- the offline writer -------------------------------------------------------------------------


def _trend_phrase(figure: Mapping[str, Any]) -> str:
    """Return ``, up 12.5% on the previous week's 40`` (empty when there is no comparison)."""
    direction, previous = figure.get("direction"), figure.get("previous")
    if direction in (None, "n/a") or previous is None:
        return ""
    before = format_value(previous, figure["unit"])
    if direction == "flat":
        return f", about the same as the previous week's {before}"
    if figure.get("change_pct") is None:
        return f", {direction} from {before} the previous week"
    return f", {direction} {abs(figure['change_pct']):.1f}% on the previous week's {before}"


def _plural(count: Any, word: str) -> str:
    """Return ``1 deal`` / ``3 deals``."""
    noun = word if count == 1 else (word[:-1] + "ies" if word.endswith("y") else word + "s")
    return f"{format_value(count, 'count')} {noun}"


def render_sentence(template: str, figures: Mapping[str, Mapping[str, Any]]) -> str:
    """Fill a sentence template and append the citations of the figures it used.

    Placeholders: ``{name}`` (the value), ``{name:trend}`` (the week-over-week phrase),
    ``{name:n|word}`` (the count and the word, plural when needed), ``{name:cite}`` (nothing:
    only cites the figure).
    """
    cited: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name, spec, word = match.group(1), match.group(2), match.group(3)
        figure = figures[name]
        if name not in cited:
            cited.append(name)
        if spec == "trend":
            return _trend_phrase(figure)
        if spec == "n":
            return _plural(figure["value"], word or "item")
        if spec == "cite":
            return ""
        return format_value(figure["value"], figure["unit"])

    text = _PLACEHOLDER.sub(fill, template).rstrip(". ")
    return f"{text} {' '.join(f'[{name}]' for name in cited)}.".replace(" .", ".")


def _value(figures: Mapping[str, Mapping[str, Any]], name: str) -> Any:
    """Return a figure's value (``None`` when absent)."""
    return (figures.get(name) or {}).get("value")


def offline_templates(figures: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Return the sentence templates of each section, chosen by what the figures hold."""
    v = lambda name: _value(figures, name)  # noqa: E731
    pipeline = [
        "Open pipeline is {pipeline.open_value} across {pipeline.open_deals:n|open deal} at the "
        "end of the week{pipeline.open_value:trend}.",
        "{pipeline.new_deals_week:n|new deal} worth {pipeline.new_value_week} were created"
        "{pipeline.new_deals_week:trend}.",
    ]
    won = "{deals.won_count_week:n|deal} worth {deals.won_value_week} were won"
    if v("deals.win_rate_week") is not None:
        won += ", a win rate of {deals.win_rate_week} of the deals closed"
    pipeline.append(won + "{deals.won_value_week:trend}.")
    if not v("forecast.deals_due"):
        forecast = ["No open deal was expected to close this week{forecast.deals_due:cite}, so "
                    "there is no forecast to compare."]  # fmt: skip
    elif not v("forecast.scored_deals"):
        forecast = ["{forecast.deals_due:n|deal} were expected to close this week, none with a "
                    "win-probability prediction{forecast.scored_deals:cite}, so there is no "
                    "forecast to compare."]  # fmt: skip
    else:
        forecast = [
            "{forecast.scored_deals} of the {forecast.deals_due:n|deal} expected to close this "
            "week have a win-probability prediction.",
            "Their forecast value was {forecast.expected_value} and {forecast.actual_won} of it "
            "was won" + (", {forecast.attainment} of the forecast."
                         if v("forecast.attainment") is not None else "."),
        ]  # fmt: skip
    if not v("churn.scored_accounts"):
        churn = ["No account has a churn-risk prediction yet{churn.scored_accounts:cite}."]
    else:
        churn = ["{churn.high_risk_accounts} of the {churn.scored_accounts:n|scored account} are "
                 "at high churn risk{churn.high_risk_accounts:trend}."]  # fmt: skip
    anomalies = [
        "{anomalies.count_week:n|anomaly} were found in the CRM's daily series, "
        "{anomalies.high_severity_week} of high severity{anomalies.count_week:trend}.",
        "The streaming monitor raised {alerts.stream_week:n|alert}{alerts.stream_week:trend}.",
    ]
    ai = ["The platform made {ai.calls_week:n|AI call} costing {ai.cost_week}"
          "{ai.calls_week:trend}."]  # fmt: skip
    if v("ai.error_rate_week") is not None:
        ai.append("{ai.error_rate_week} of the AI calls failed{ai.error_rate_week:trend}.")
    ai.append("{ai.predictions_week:n|prediction} were stored{ai.predictions_week:trend}.")
    if v("leads.mean_score_week") is not None:
        ai.append("The mean lead score was {leads.mean_score_week}{leads.mean_score_week:trend}.")
    if v("adoption.accept_rate_week") is not None:
        ai.append("{adoption.accept_rate_week} of the AI suggestions shown were accepted"
                  "{adoption.accept_rate_week:trend}.")  # fmt: skip
    else:
        ai.append("No AI suggestion was shown or decided this week"
                  "{adoption.accept_rate_week:cite}.")  # fmt: skip
    return {"pipeline": pipeline, "forecast": forecast, "churn": churn, "anomalies": anomalies,
            "ai": ai}  # fmt: skip


def _grammar(sentence: str) -> str:
    """Fix the verb after a count of one (``1 new deal ... were`` -> ``was``)."""
    return re.sub(r"^(1 .*?) were ", r"\1 was ", sentence, count=1)


def write_offline(report: Mapping[str, Any]) -> str:
    """Write the summary from templates: every number it states cites its figure.

    Args:
        report: ``week_start``, ``week_end`` and ``figures`` (see
            :func:`insights.executive.build_report`).

    Returns:
        The markdown summary.
    """
    figures = {figure["name"]: figure for figure in report["figures"]}
    lines = [f"# Executive summary, {report['week_start']} to {report['week_end']}"]
    for key, templates in offline_templates(figures).items():
        sentences = [_grammar(render_sentence(t, figures)) for t in templates]
        lines += ["", f"## {SECTIONS[key]}", "", " ".join(sentences)]
    return "\n".join(lines) + "\n"


# --- the LLM path -------------------------------------------------------------------------------


def prompt_variables(report: Mapping[str, Any]) -> dict[str, Any]:
    """Return the variables of the ``executive_summary`` prompt: the week and the figures."""
    keys = ("name", "section", "description", "unit", "value", "previous", "change", "change_pct")
    figures = [{key: figure.get(key) for key in keys} for figure in report["figures"]]
    return {
        "week_start": report["week_start"],
        "week_end": report["week_end"],
        "sections": ", ".join(SECTIONS.values()),
        "figures": json.dumps(figures, separators=(",", ":")),
    }


def _answered_offline(generate: Any, llm_config: Any) -> bool:
    """Whether the last LLM call of ``generate`` was answered by an offline provider."""
    calls = getattr(generate, "calls", None) or []
    if not calls or llm_config is None:
        return False
    try:
        return llm_config.get_provider(calls[-1].provider).kind == "offline"
    except (KeyError, AttributeError):
        return False


def _hosted(llm_config: Any) -> bool:
    """Whether the default route of ``llm_config`` reaches a hosted provider."""
    from textai.llm.answers import hosted_route

    return bool(hosted_route(llm_config, llm_config.default_provider))


def write_summary(
    report: Mapping[str, Any],
    generate: GenerateText | None = None,
    llm_config: Any = None,
) -> dict[str, Any]:
    """Write the summary: the hosted LLM's answer if it holds, else the templates'.

    Args:
        report: ``week_start``, ``week_end`` and ``figures``.
        generate: The LLM layer's ``generate(prompt_name, variables) -> text`` (e.g.
            ``TextAI._complete``'s, whose ``calls`` say which provider answered); ``None``
            writes from the templates without a reason.
        llm_config: The LLM configuration (:class:`textai.llm.config.LLMConfig`): the LLM is
            asked only when its default route has a hosted provider. ``None`` with a
            ``generate`` asks it anyway (tests).

    Returns:
        ``summary`` (markdown), ``sections`` (parsed, with citations), ``path`` (``llm`` or
        ``offline_template``) and ``fallback_reason`` (why the LLM's text was not used).
    """
    reason = None
    if generate is not None:
        if llm_config is not None and not _hosted(llm_config):
            reason = "no hosted LLM provider is configured; the templates wrote the summary"
        else:
            try:
                answer = generate(PROMPT_NAME, prompt_variables(report))
            except Exception as error:  # provider, budget, prompt: reported, never silent
                reason = f"the LLM call failed: {type(error).__name__}: {error}"
            else:
                if _answered_offline(generate, llm_config):
                    reason = "the hosted providers failed and the offline model answered"
                else:
                    dates = (report["week_start"], report["week_end"])
                    problems = check_summary(answer, report["figures"], dates)
                    if not problems:
                        return _result(answer.strip() + "\n", "llm", None)
                    shown = "; ".join(problems[:3])
                    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
                    reason = f"the LLM summary was refused: {shown}{more}"
    return _result(write_offline(report), "offline_template", reason)


def _result(summary: str, path: str, reason: str | None) -> dict[str, Any]:
    """Return the writer's answer."""
    return {
        "summary": summary,
        "sections": parse_summary(summary),
        "path": path,
        "fallback_reason": reason,
    }
