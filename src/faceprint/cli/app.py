"""The `faceprint` command: a Typer root with one module per command or command group."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from faceprint import __version__
from faceprint.cli.calibrate import calibrate
from faceprint.cli.cluster import cluster, eval_cluster, list_clusters, merge_clusters, name_cluster, split_cluster
from faceprint.cli.detect import detect
from faceprint.cli.evaluate import eval_app
from faceprint.cli.export import export_app
from faceprint.cli.gallery import enroll, people_app
from faceprint.cli.identify import fit_classifier, identify
from faceprint.cli.models import models_app
from faceprint.cli.train import train, train_head
from faceprint.cli.verify import verify
from faceprint.cli.viz import viz_app

app = typer.Typer(
    name="faceprint",
    help="Face recognition: detect, align, embed, verify and evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(verify)
app.command()(detect)
app.command()(enroll)
app.command()(identify)
app.command("fit-classifier")(fit_classifier)
app.command()(train)
app.command("train-head")(train_head)
app.add_typer(people_app, name="people")
app.add_typer(eval_app, name="eval")
app.add_typer(models_app, name="models")
app.command()(calibrate)
app.add_typer(viz_app, name="viz")
app.add_typer(export_app, name="export")
app.command()(cluster)
eval_app.command("cluster")(eval_cluster)
people_app.command("clusters")(list_clusters)
people_app.command("name-cluster")(name_cluster)
people_app.command("merge-clusters")(merge_clusters)
people_app.command("split-cluster")(split_cluster)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"faceprint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console-script entry point."""
    app()
