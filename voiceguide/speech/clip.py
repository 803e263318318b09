"""A spoken clip (a leaf value), the voices engines offer, and text made safe to speak."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads when audio is handled, not when a timeline is shown
    import numpy as np
    import numpy.typing as npt

# Leading and trailing engine silence below this level is trimmed, so the
# timeline's pauses, not the engine's, set the pace.
TRIM_THRESHOLD = 0.004  # about -48 dBFS
TRIM_MARGIN_MS = 20


def plain_text(text: str) -> str:
    """Return text as an engine must get it to read it as plain words, never as markup.

    espeak-ng obeys control characters in any input: U+0001 starts an embedded
    command (U+0001 then "400S" switches to 400 words a minute, for every line
    after it too) and U+0000 ends the text. Piper reads "[[ ... ]]" as raw phonemes. So
    control characters become spaces and no two brackets are left side by side.
    The routine, the timeline and the transcript keep the original text.
    """
    spoken = "".join(
        " " if unicodedata.category(c) == "Cc" and c not in "\n\t" else c for c in text
    )
    return _DOUBLE_BRACKET.sub(r"\1 ", spoken)


_DOUBLE_BRACKET = re.compile(r"([\[\]])(?=[\[\]])")


@dataclass(frozen=True, eq=False)
class Clip:
    """Mono 16-bit speech audio."""

    samples: npt.NDArray[np.int16]
    sample_rate: int

    @property
    def duration_ms(self) -> int:
        """The clip's length in whole milliseconds, rounded up."""
        return math.ceil(len(self.samples) * 1000 / self.sample_rate)

    def trimmed(self) -> Clip:
        """Return the clip without its leading and trailing near-silence."""
        import numpy as np

        loud = np.flatnonzero(np.abs(self.samples.astype(np.int32)) > TRIM_THRESHOLD * 32768)
        if loud.size == 0:
            return Clip(self.samples[:0], self.sample_rate)
        margin = self.sample_rate * TRIM_MARGIN_MS // 1000
        start = max(int(loud[0]) - margin, 0)
        end = min(int(loud[-1]) + 1 + margin, len(self.samples))
        return Clip(self.samples[start:end].copy(), self.sample_rate)


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers."""

    id: str
    name: str
    languages: tuple[str, ...]
