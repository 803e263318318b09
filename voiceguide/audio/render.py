"""Render a Timeline into audio, block by block.

Spoken lines and chimes come from the Mix (levelled, limited) and are mixed
with numpy at exact sample positions, over the music bed when there is one.
Only the clips that sound in the current block are held, so the whole
session never sits in one buffer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voiceguide.audio.format import CHANNELS, Block, ms_to_frames
from voiceguide.audio.mix import Mix
from voiceguide.timeline.model import Timeline

BLOCK_MS = 2000

FloatArray = npt.NDArray[np.float32]


@dataclass
class _Voice:
    start: int  # frame where the audio begins
    audio: FloatArray

    @property
    def end(self) -> int:
        return self.start + len(self.audio)


def total_frames(timeline: Timeline) -> int:
    """Return the number of frames the rendered session has."""
    return ms_to_frames(timeline.total_ms)


def render(
    timeline: Timeline,
    mix: Mix,
    *,
    block_ms: int = BLOCK_MS,
    start_frame: int = 0,
    end_frame: int | None = None,
    first_block_ms: int | None = None,
) -> Iterator[Block]:
    """Yield the session from start_frame on, as 16-bit stereo blocks of at most block_ms.

    end_frame stops it early (a session still being synthesized renders what is settled).
    first_block_ms makes the first block shorter, so it sounds sooner (a player
    starting or jumping to a step).
    Mixing is by absolute position, so the samples do not depend on where
    rendering starts or on the block size.
    """
    sounding = sorted(
        (
            s
            for s in timeline.segments
            # A clip is never longer than its segment (clip lengths round up to whole ms).
            if s.kind.audible and ms_to_frames(s.end_ms) + 1 > start_frame
        ),
        key=lambda s: s.start_ms,
    )
    pending = iter(sounding)
    upcoming = next(pending, None)
    active: list[_Voice] = []
    end = total_frames(timeline) if end_frame is None else min(end_frame, total_frames(timeline))
    block = max(ms_to_frames(block_ms), 1)

    b_start = max(start_frame, 0)
    size = block if first_block_ms is None else max(min(ms_to_frames(first_block_ms), block), 1)
    while b_start < end:
        b_end = min(b_start + size, end)
        size = block
        while upcoming is not None and ms_to_frames(upcoming.start_ms) < b_end:
            active.append(_Voice(ms_to_frames(upcoming.start_ms), mix.sound(upcoming)))
            upcoming = next(pending, None)
        voice = np.zeros(b_end - b_start, dtype=np.float32)
        for item in active:
            lo, hi = max(item.start, b_start), min(item.end, b_end)
            if lo < hi:
                voice[lo - b_start : hi - b_start] += item.audio[lo - item.start : hi - item.start]
        active = [v for v in active if v.end > b_end]
        stereo = np.repeat(voice[:, None], CHANNELS, axis=1)
        if mix.bed is not None:
            stereo += mix.bed.block(b_start, b_end - b_start)
        yield to_pcm(stereo)
        b_start = b_end


def to_pcm(samples: FloatArray) -> Block:
    """Convert float samples (mono, or frames x CHANNELS) to 16-bit interleaved frames."""
    if samples.ndim == 1:
        samples = np.repeat(samples[:, None], CHANNELS, axis=1)
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


ASIDE_DUCK_DB = 14.0  # how far the session drops under a spoken aside ("where am I?")
ASIDE_RAMP_MS = 80  # the duck's ramps, down before the aside speaks and up after it


class Aside:
    """A line spoken over the playing session, which is ducked under it.

    The session ramps down over ASIDE_RAMP_MS, the line plays, and the
    session ramps back up: chunk by chunk, as the player writes them.
    """

    def __init__(self, line: Block) -> None:
        ramp = ms_to_frames(ASIDE_RAMP_MS)
        low = 10 ** (-ASIDE_DUCK_DB / 20)
        down = np.linspace(1.0, low, ramp, endpoint=False)
        up = np.linspace(low, 1.0, ramp, endpoint=False)
        self.gain = np.concatenate([down, np.full(len(line), low), up]).astype(np.float32)
        self.line = np.concatenate(
            [np.zeros((ramp, CHANNELS), np.float32), line.astype(np.float32)]
        )
        self.position = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.gain)

    def over(self, chunk: Block) -> Block:
        """Return the chunk with the aside mixed over it; the aside moves on by its length."""
        start, end = self.position, min(self.position + len(chunk), len(self.gain))
        self.position += len(chunk)
        if start >= end:
            return chunk
        mixed = chunk.astype(np.float32)
        mixed[: end - start] *= self.gain[start:end, None]
        line = self.line[start : min(end, len(self.line))]
        mixed[: len(line)] += line
        return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
