"""The `faceprint` command: a Typer root with one module per command or command group."""

from __future__ import annotations

import inspect
import logging
import re
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from faceprint._version import __version__
from faceprint.cli._common import Exit, UsageError, print_error
from faceprint.cli.audit import audit
from faceprint.cli.calibrate import calibrate
from faceprint.cli.cluster import cluster, discard_cluster, eval_cluster, list_clusters, merge_clusters, name_cluster, split_cluster
from faceprint.cli.detect import detect
from faceprint.cli.evaluate import eval_app
from faceprint.cli.export import export_app
from faceprint.cli.gallery import enroll, people_app
from faceprint.cli.gallery_admin import gallery_app
from faceprint.cli.identify import fit_classifier, identify
from faceprint.cli.keys import keys_app
from faceprint.cli.models import models_app
from faceprint.cli.serve import serve
from faceprint.cli.train import train, train_head
from faceprint.cli.verify import verify
from faceprint.cli.video import video
from faceprint.cli.viz import viz_app

VERBOSE_FLAGS = ("-v", "--verbose")


class _RootGroup(TyperGroup):
    """The root command: usage errors (unknown option, bad value, missing argument) exit 3 as the README says,
    not click's 2 (that is "bad input"); `-v` is accepted anywhere on the line, also after the subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in VERBOSE_FLAGS]
        rest = [a for a in args[:end] if a not in VERBOSE_FLAGS]
        return super().parse_args(ctx, flags[:1] + rest + args[end:])

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as exc:
            raise _usage_exit(exc) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise _usage_exit(exc) from None


def _usage_exit(exc: Exception) -> typer.Exit:
    """A usage error as the README promises every error: one `error:` line on stderr (no boxed Usage panel), exit 3.
    The line says where help is, since the usage text is not printed."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see {ctx.command_path} --help)" if ctx is not None and ctx.command_path else ""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    print_error(" ".join(message.split()) + where)
    return typer.Exit(int(Exit.USAGE))


def _flag_type(self: TyperOption, ctx: Any, _plain: Any = TyperOption.display_type_rich) -> str | None:
    """Help shows no value type for flags (`--json`, not `--json <bool>`): a flag takes no value."""
    return None if self.is_flag and not self.secondary_opts else _plain(self, ctx)


TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def first_sentence(help_text: str | None) -> str:
    """The first sentence of a command's help, whole: what a command list shows beside the command's name."""
    paragraph = " ".join(inspect.cleandoc(help_text or "").split("\n\n")[0].split())
    end = re.search(r"[.!?](\s|$)", paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


def _short_help(self: Any, limit: int = 45) -> str:
    """Command lists show each command's first sentence whole, wrapped under its column, where click cut it at
    the terminal's width with "..." (mid-sentence)."""
    return inspect.cleandoc(self.short_help) if self.short_help else first_sentence(self.help)


TyperCommand.get_short_help_str = _short_help  # type: ignore[method-assign]
TyperGroup.get_short_help_str = _short_help  # type: ignore[method-assign]

app = typer.Typer(
    name="faceprint",
    cls=_RootGroup,
    help="Face recognition: detect, align, embed, verify and evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text as written: `pip install faceprint[ray]` keeps its brackets
)
app.command()(verify)
app.command()(detect)
app.command()(enroll)
app.command()(identify)
app.command("fit-classifier")(fit_classifier)
app.command()(train)
app.command("train-head")(train_head)
app.add_typer(people_app, name="people")
app.add_typer(gallery_app, name="gallery")
app.add_typer(eval_app, name="eval")
app.add_typer(models_app, name="models")
app.command()(calibrate)
app.add_typer(viz_app, name="viz")
app.add_typer(export_app, name="export")
app.command()(serve)
app.add_typer(keys_app, name="keys")
app.command()(video)
app.command()(cluster)
app.command()(audit)
eval_app.command("cluster")(eval_cluster)
people_app.command("clusters")(list_clusters)
people_app.command("name-cluster")(name_cluster)
people_app.command("merge-clusters")(merge_clusters)
people_app.command("split-cluster")(split_cluster)
people_app.command("discard-cluster")(discard_cluster)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"faceprint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)


def main() -> None:
    """Console-script entry point."""
    from faceprint._heap import bound_heap

    bound_heap()  # peak memory flat in the number of photos (faceprint._heap)
    app()
