from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import fake_measure
from voiceguide.routine import Variant, parse_routine
from voiceguide.timeline import compile_timeline

ROOT = Path(__file__).parent.parent


def test_the_complete_example_in_the_format_doc_is_valid() -> None:
    doc = (ROOT / "docs" / "routine-format.md").read_text()
    example = doc.split("## Complete example", 1)[1]
    (toml,) = re.findall(r"```toml\n(.*?)```", example, flags=re.S)
    routine = parse_routine(toml, source="example.toml", name="example")
    for variant in Variant:
        timeline = compile_timeline(routine, variant, fake_measure, chime_ms=1500)
        assert not timeline.warnings


def test_make_assets_reproduces_the_committed_chime(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_assets.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("chime.wav", "pause.wav", "resume.wav"):
        assert (tmp_path / name).read_bytes() == (ROOT / "assets" / name).read_bytes(), name
