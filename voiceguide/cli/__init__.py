"""The command line: one module per command group, all registered here on one Typer app."""

from voiceguide.cli import export, history, play, routines, serve, settings
from voiceguide.cli.core import app
from voiceguide.cli.options import SleepCommand

# In the order `voiceguide --help` lists them.
app.command("list")(routines.list_routines)
app.command(cls=SleepCommand)(routines.show)
app.command(cls=SleepCommand)(export.export)
app.command()(settings.voices)
app.command("music")(settings.music_list)
app.command()(settings.config)
app.command("import")(routines.import_article)
app.command()(routines.new)
app.command()(routines.check)
app.command(cls=SleepCommand)(play.play)
app.command()(history.history)
app.command()(serve.serve)

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI (the `voiceguide` console script)."""
    app(prog_name="voiceguide")
