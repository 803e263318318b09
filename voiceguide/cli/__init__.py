"""The command line: one module per command group, all registered here on one Typer app."""

import signal

# A Ctrl-C while the command line is still being imported ends the process at
# once, as the signal does, instead of a traceback (an interrupt inside an import
# can even surface as a RuntimeError, exit 1). main() gives Ctrl-C back to Python.
signal.signal(signal.SIGINT, signal.SIG_DFL)

from voiceguide.cli import export, history, play, routines, serve, settings  # noqa: E402
from voiceguide.cli.core import app  # noqa: E402
from voiceguide.cli.options import SleepCommand  # noqa: E402
from voiceguide.cli.quick import QuickCommand  # noqa: E402

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
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: KeyboardInterrupt again
    app(prog_name="voiceguide")
