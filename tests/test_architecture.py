"""The code map (docs/architecture.md) names every module there is, and none that is not."""

from __future__ import annotations

import re
from pathlib import Path

import voiceguide

PACKAGE = Path(voiceguide.__file__).parent
MAP = PACKAGE.parent / "docs" / "architecture.md"


def _modules() -> set[str]:
    """Return each module as the map names it: `name.py` in the map's section for its package."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        found.add(str(path.relative_to(PACKAGE)))
    return found


def _named() -> set[str]:
    """Return the modules the map names, as paths under voiceguide/."""
    text = MAP.read_text(encoding="utf-8")
    named = set()
    package = ""
    for line in text.splitlines():
        heading = re.match(r"^### `(\w+)/`", line)
        if heading:
            package = heading.group(1)
            continue
        if line.startswith("## "):
            package = ""
        for folder, name in re.findall(r"`(?:(\w+)/)?(\w+)\.py`", line):
            if folder and not (PACKAGE / folder).is_dir():
                continue  # outside the package, like scripts/make_assets.py
            where = folder or package
            named.add(f"{where}/{name}.py" if where else f"{name}.py")
    return named


def test_the_code_map_names_every_module() -> None:
    missing = _modules() - _named()
    assert not missing, f"docs/architecture.md does not name: {sorted(missing)}"


def test_the_code_map_names_no_module_that_is_gone() -> None:
    gone = {m for m in _named() if not (PACKAGE / m).exists()}
    assert not gone, f"docs/architecture.md names modules that do not exist: {sorted(gone)}"
