"""The command line: one module per command group, all registered here on one Typer app."""

from voiceguide.cli import export, history, play, routines, serve, settings
from voiceguide.cli.core import app
from voiceguide.cli.options import SleepCommand
from voiceguide.cli.quick import QuickCommand

# In the order `voiceguide --help` lists them.
app.command("list", cls=QuickCommand)(routines.list_routines)
app.command(cls=SleepCommand)(routines.show)
app.command(cls=SleepCommand)(export.export)
app.command(cls=QuickCommand)(settings.voices)
app.command("music", cls=QuickCommand)(settings.music_list)
app.command(cls=QuickCommand)(settings.config)
app.command("import", cls=QuickCommand)(routines.import_article)
app.command(cls=QuickCommand)(routines.new)
app.command(cls=QuickCommand)(routines.check)
app.command(cls=SleepCommand)(play.play)
app.command(cls=QuickCommand)(history.history)
app.command(cls=QuickCommand)(serve.serve)

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI (the `voiceguide` console script)."""
    app(prog_name="voiceguide")
