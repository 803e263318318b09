"""The routine library: built-in routines, the user's own, routine files and articles.

The user's folder is given (see env.Environment.routines_dir), never looked up here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.errors import Diagnostic, RoutineError, UsageError
from voiceguide.routine.format import parse_routine
from voiceguide.routine.model import Routine
from voiceguide.textfile import TextFileError, decode

if TYPE_CHECKING:
    from voiceguide.routine.summary import ImportResult

BUILTIN_PACKAGE = "voiceguide.routine.builtin"
ARTICLE_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".html", ".htm")
HTML_SUFFIXES = (".html", ".htm")


def _read(path: Path, what: str, kind: str) -> str:
    """Return a file's text, or raise the error for a file that is missing or unreadable.

    what names the file in messages ("routine file"); kind is it with its article.
    """
    try:
        return decode(path.read_bytes(), kind)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not {kind}") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror}") from None
    except TextFileError as err:
        raise RoutineError([Diagnostic(str(path), err.line, err.message)]) from None


def load_routine_file(path: Path) -> Routine:
    """Load and validate a routine file."""
    text = _read(path, "routine file", "a routine file")
    return parse_routine(text, source=str(path), name=path.stem)


def load_article(path: Path) -> Routine:
    """Import a how-to article (plain text or Markdown) as a routine."""
    return load_article_result(path).routine


def load_article_result(path: Path) -> ImportResult:
    """Import a how-to article as a routine, with the summary of how it was read."""
    text = _read(path, "article", "an article")
    if path.suffix.lower() in HTML_SUFFIXES:
        from voiceguide.routine.html import html_to_article

        text = html_to_article(text, source=str(path))
    from voiceguide.routine.article import read_article  # a parser worth loading only for articles

    return read_article(text, source=str(path), name=path.stem)


def load_url_result(url: str) -> ImportResult:
    """Fetch an article from a URL and import it, with the summary of how it was read."""
    from voiceguide.routine.fetch import fetch

    page = fetch(url)
    text = page.text
    if page.is_html:
        from voiceguide.routine.html import html_to_article

        text = html_to_article(text, source=url)
    from voiceguide.routine.article import read_article

    return read_article(text, source=url, name=page.name)


def builtin_names() -> list[str]:
    """Return the names of the built-in routines."""
    folder = resources.files(BUILTIN_PACKAGE)
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_builtin(name: str) -> Routine:
    """Load a built-in routine by name."""
    entry = resources.files(BUILTIN_PACKAGE).joinpath(f"{name}.toml")
    text = entry.read_text(encoding="utf-8")
    return parse_routine(text, source=f"<built-in {name}>", name=name)


class RoutineLibrary:
    """The routines a user can name: their own (in `folder`), then the built-in ones."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_of(self, name: str) -> Path:
        """Return where the user's own routine of that name is (or would be) kept."""
        return self.folder / f"{name}.toml"

    def user_names(self) -> list[str]:
        """Return the names of the user's own routines."""
        folder = self.folder
        return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []

    def names(self) -> list[str]:
        """Return every routine name, the user's own and the built-in ones."""
        return sorted({*builtin_names(), *self.user_names()})

    def find(self, spec: str) -> Routine:
        """Return the routine a user named: a name, a routine file or an article.

        The user's own routines come before built-ins of the same name.
        """
        if spec in self.user_names():
            return load_routine_file(self.path_of(spec))
        if spec in builtin_names():
            return load_builtin(spec)
        from voiceguide.routine.fetch import is_url

        if is_url(spec):
            return load_url_result(spec).routine
        path = Path(spec)
        if path.suffix.lower() in ARTICLE_SUFFIXES:
            return load_article(path)
        if path.suffix == ".toml" or path.exists():
            return load_routine_file(path)
        raise UsageError(
            f'unknown routine "{spec}": not a routine name ({", ".join(self.names())}) '
            "and no such file; see `voiceguide list`"
        )
