"""`faceprint models ...`: what models there are and whether their weights are here."""

from __future__ import annotations

import typer
from rich.table import Table

from faceprint.cli._common import console

models_app = typer.Typer(help="List embedding models.", no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """Every registered model: input, embedding size, metric, default threshold, weights present, LFW figure."""
    from faceprint.models import get_model_spec, list_models

    table = Table(title="faceprint models")
    for col in ("name", "input", "dim", "metric", "threshold", "weights", "LFW"):
        table.add_column(col)
    for name in list_models():
        s = get_model_spec(name)
        present = s.weights is None or s.weights.present()
        table.add_row(
            s.name,
            f"{s.input_size}x{s.input_size}",
            str(s.embedding_dim),
            s.metric,
            f"{s.threshold:.3f}",
            "[green]present[/]" if present else "[red]missing[/]",
            s.lfw_accuracy or "-",
        )
    console.print(table)
