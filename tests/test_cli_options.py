"""One vocabulary: the command line, walked through its click objects, against faceprint.cli.options."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from faceprint.cli.app import app
from faceprint.cli.options import DEPRECATED, OPTIONS, PENDING, command_options, render

ROWS = {row.name: row for row in OPTIONS}
ALL = list(command_options(typer.main.get_command(app)))


def test_the_table_names_each_option_once_and_each_short_form_once() -> None:
    assert len(ROWS) == len(OPTIONS)
    shorts = [row.short for row in OPTIONS if row.short]
    assert len(shorts) == len(set(shorts))


def test_every_option_of_every_command_is_in_the_table_with_its_short_form() -> None:
    problems = []
    for path, opt in ALL:
        names = opt.opts + opt.secondary_opts
        if opt.hidden:  # only deprecated spellings hide
            for name in names:
                if (path, name) not in DEPRECATED:
                    problems.append(f"{path} {name}: hidden, but not a listed deprecated spelling")
            continue
        longs = [n for n in opt.opts if n.startswith("--")]  # secondary_opts: a flag's off spelling (--no-cache)
        primary = next((n for n in longs if n in ROWS), None)
        if primary is None:
            problems.append(f"{path} {'/'.join(longs)}: not in faceprint.cli.options.OPTIONS")
            continue
        problems += [f"{path} {other}: a second long name for {primary}" for other in longs if other != primary]
        for short in (n for n in opt.opts if not n.startswith("--")):
            if short != ROWS[primary].short and (path, short) not in PENDING:
                owner = next((r.name for r in OPTIONS if r.short == short), "nothing")
                problems.append(f"{path} {short}: the table gives {short} to {owner}, here it is {primary}")
    assert not problems, "\n".join(problems)


def test_every_row_is_used_and_every_exception_exists() -> None:
    used = {n for path, opt in ALL for n in opt.opts + opt.secondary_opts}
    assert {row.name for row in OPTIONS} <= used, {row.name for row in OPTIONS} - used
    present = {(path, n) for path, opt in ALL for n in opt.opts + opt.secondary_opts}
    assert set(DEPRECATED) <= present and set(PENDING) <= present


def test_docs_are_the_table() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "cli-options.md"
    assert doc.read_text(encoding="utf-8") == render(), "regenerate: python -m faceprint.cli.options > docs/cli-options.md"


@pytest.mark.parametrize("argv", [["identify", "--bogus", "x.jpg"], ["identify", "-k", "0", "x.jpg"], ["identify"],
                                  ["bogus"], ["calibrate", "--pair-far", "2", "x"], ["identify", "x.jpg", "--threshold", "-1"],
                                  ["eval", "identify", "x"]])
def test_option_errors_are_one_error_line(argv: list[str]) -> None:
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 3, r.output
    assert r.stdout == "" and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Usage" not in r.stderr and "╭" not in r.stderr and "--help" in r.stderr


def test_help_keeps_brackets_and_whole_sentences() -> None:
    r = CliRunner().invoke(app, ["enroll", "--help"], terminal_width=100)
    assert r.exit_code == 0
    assert "pip install faceprint[ray]" in " ".join(r.stdout.split())
    assert "╭" not in r.stdout  # plain help: no boxes whose borders cut sentences
    # a docstring paragraph is rewrapped to the terminal, not broken where its source lines end
    r = CliRunner().invoke(app, ["calibrate", "--help"], terminal_width=200)
    assert "Every pair of photos is scored. Stored in the gallery for the model: the impostor distribution" in r.stdout


def test_command_lists_show_whole_first_sentences() -> None:
    """Issue 29: `faceprint --help` cut commands' descriptions at the terminal's width ("confidence and...");
    each group's list shows the first sentence of every command whole, wrapped."""
    from faceprint.cli.app import first_sentence

    root = typer.main.get_command(app)
    groups = [([], root)] + [([name], cmd) for name, cmd in root.commands.items() if hasattr(cmd, "commands")]
    for path, group in groups:
        r = CliRunner().invoke(app, [*path, "--help"], terminal_width=80)
        assert r.exit_code == 0, r.output
        flat = " ".join(r.stdout.split()).replace("- ", "-")  # a line may break after a hyphen ("non-|matches")
        for name, cmd in group.commands.items():
            if cmd.hidden:
                continue
            sentence = first_sentence(cmd.help)
            assert sentence and f"{name} {sentence}" in flat, (path, name, sentence)
        assert "..." not in r.stdout.split("Commands:")[1], r.stdout


def test_deprecated_spellings_still_run_with_a_note(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["calibrate", str(tmp_path / "none"), "--far", "0.01"])
    assert "--pair-far" in r.stderr and r.exit_code != 3


def test_keys_and_serve_errors_print_no_markup(tmp_path: Path) -> None:
    """These errors were printed with markup off, so `[bold red]error:[/]` reached the terminal as text."""
    r = CliRunner().invoke(app, ["keys", "create", "--scope", "bogus", "--gallery", str(tmp_path / "g.sqlite")])
    assert r.exit_code == 3 and r.stderr.startswith("error: unknown scope") and "[" not in r.stderr.split(";")[0]
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--gallery", str(tmp_path / "g.sqlite")])
    assert r.exit_code == 3 and r.stderr.startswith("error: refusing to listen on 0.0.0.0") and "[/]" not in r.stderr
