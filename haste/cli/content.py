"""Content intelligence commands: ``haste content seed | performance | recommend``."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.table import Table

from haste.cli.common import console, fail
from haste.settings import get_settings

app = typer.Typer(
    help=(
        "Content library: seed the library and synthetic sends, show each item's performance "
        "(shrunk rates with credible intervals) and recommend what to send a contact next."
    ),
    no_args_is_help=True,
)


@app.command("seed")
def seed_command(
    sends: Annotated[int, typer.Option(min=0, help="Synthetic sends to simulate.")] = 8000,
    seed: Annotated[int, typer.Option(help="Seed of the hidden rates and the sends.")] = 17,
) -> None:
    """Insert the content library and uniformly logged synthetic sends (idempotent)."""
    from content.library import seed_library
    from content.sends import store_synthetic_sends

    url = get_settings().database_url
    items = seed_library(url)
    console.print(f"content library: {items} items inserted")
    if sends:
        try:
            stored = store_synthetic_sends(url, sends, seed)
        except ValueError as error:
            fail(f"{error} (run `haste demo` or load the synthetic CRM first)")
        console.print(
            f"synthetic sends: {stored['sends']} inserted over {stored['contacts']} contacts"
        )


@app.command("performance")
def performance_command(
    metric: Annotated[str, typer.Option(help="open, click, reply or win.")] = "reply",
    kind: Annotated[str | None, typer.Option(help="Only items of this kind.")] = None,
    min_sends: Annotated[int, typer.Option(min=0, help="Hide thinner items.")] = 0,
) -> None:
    """Show each item's rate: raw, shrunk posterior mean, 95% interval, P(best), vs leader."""
    from content.performance import content_performance

    try:
        result = content_performance(get_settings().database_url, kind, None, metric, min_sends)
    except ValueError as error:
        fail(str(error))
    if not result["items"]:
        fail("no content was sent yet: run `haste content seed`")
    table = Table(
        "item", "kind", "sends", "raw", "posterior", "95% interval", "P(best)", "vs leader"
    )
    for item in result["items"]:
        test = item["vs_leader"]
        verdict = "leader" if test.get("leader") else (
            f"worse (p_holm {test['p_holm']:.3g})" if test.get("worse_than_leader")
            else f"n.s. (p_holm {test.get('p_holm', 1):.3g})"
        )  # fmt: skip
        low, high = item["ci95"]
        table.add_row(
            item["content_name"], item["kind"], str(item["sends"]), f"{item['rate']:.1%}",
            f"{item['posterior_mean']:.1%}", f"{low:.1%} - {high:.1%}", f"{item['prob_best']:.0%}",
            verdict,
        )  # fmt: skip
    console.print(table)
    console.print(f"{result['n_sends']} sends; prior {result['prior']} ({metric} per send)")


@app.command("recommend")
def recommend_command(
    contact_id: Annotated[str, typer.Argument(help="The CRM contact's id.")],
    kind: Annotated[str | None, typer.Option(help="Only items of this kind.")] = None,
    metric: Annotated[str, typer.Option(help="click, reply or win.")] = "reply",
    n: Annotated[int, typer.Option(min=1, max=10, help="Items returned.")] = 3,
) -> None:
    """Rank content for a contact by contextual Thompson sampling."""
    from content.recommend import ContentNotSeededError, recommend_content

    try:
        contact = uuid.UUID(contact_id)
    except ValueError:
        fail(f"{contact_id!r} is not a contact id (a UUID)")
    if metric not in ("click", "reply", "win"):
        fail("metric must be click, reply or win")
    try:
        result = recommend_content(get_settings().database_url, contact, None, kind, n, metric)
    except (LookupError, ContentNotSeededError) as error:
        fail(str(error))
    console.print(f"segment: {result['segment']}")
    for item in result["items"]:
        low, high = item["ci95"]
        console.print(
            f"{item['rank']}. [bold]{item['name']}[/] ({item['kind']}): {metric} "
            f"{item['posterior_mean']:.1%} [{low:.1%}, {high:.1%}], P(best) "
            f"{item['prob_best']:.0%}\n   {item['why']}"
        )
