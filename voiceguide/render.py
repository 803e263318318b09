"""Render a Timeline into audio, block by block.

Clips are prepared with pydub (resampled to the session rate, with short
fades so nothing clicks) and mixed with numpy at exact sample positions.
Only the clips that sound in the current block are held in memory, so the
whole session never sits in one buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voiceguide.audio import CHANNELS, SAMPLE_RATE, Block, ms_to_frames
from voiceguide.speech.base import Clip
from voiceguide.timeline import Kind, Timeline

BLOCK_MS = 2000
FADE_IN_MS = 5
FADE_OUT_MS = 15

FloatArray = npt.NDArray[np.float32]


def prepare(clip: Clip) -> FloatArray:
    """Return a clip as float samples at the session rate, faded at both ends."""
    from pydub import AudioSegment  # imported late: the CLI's --help stays instant

    if len(clip.samples) == 0:
        return np.zeros(0, dtype=np.float32)
    segment = AudioSegment(
        data=clip.samples.astype("<i2").tobytes(),
        sample_width=2,
        frame_rate=clip.sample_rate,
        channels=1,
    )
    if clip.sample_rate != SAMPLE_RATE:
        segment = segment.set_frame_rate(SAMPLE_RATE)
    segment = segment.fade_in(FADE_IN_MS).fade_out(FADE_OUT_MS)
    samples = np.frombuffer(segment.raw_data, dtype="<i2")
    return (samples.astype(np.float32) / 32768.0).astype(np.float32)


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
    speech: Callable[[str], Clip],
    chime: Clip,
    *,
    block_ms: int = BLOCK_MS,
    start_frame: int = 0,
) -> Iterator[Block]:
    """Yield the session from start_frame on, as 16-bit stereo blocks of at most block_ms.

    Mixing is by absolute position, so the samples do not depend on where
    rendering starts or on the block size.
    """
    chime_audio = prepare(chime)
    sounding = sorted(
        (
            s
            for s in timeline.segments
            # A clip is never longer than its segment (clip lengths round up to whole ms).
            if s.kind is not Kind.SILENCE and ms_to_frames(s.end_ms) + 1 > start_frame
        ),
        key=lambda s: s.start_ms,
    )
    prepared: dict[str, FloatArray] = {}
    pending = iter(sounding)
    upcoming = next(pending, None)
    active: list[_Voice] = []
    end = total_frames(timeline)
    block = max(ms_to_frames(block_ms), 1)

    for b_start in range(max(start_frame, 0), end, block):
        b_end = min(b_start + block, end)
        while upcoming is not None and ms_to_frames(upcoming.start_ms) < b_end:
            if upcoming.kind is Kind.CHIME:
                audio = chime_audio
            elif upcoming.text in prepared:
                audio = prepared[upcoming.text]
            else:
                audio = prepared[upcoming.text] = prepare(speech(upcoming.text))
            active.append(_Voice(ms_to_frames(upcoming.start_ms), audio))
            upcoming = next(pending, None)
        mix = np.zeros(b_end - b_start, dtype=np.float32)
        for voice in active:
            lo, hi = max(voice.start, b_start), min(voice.end, b_end)
            if lo < hi:
                mix[lo - b_start : hi - b_start] += voice.audio[lo - voice.start : hi - voice.start]
        active = [v for v in active if v.end > b_end]
        if len(prepared) > 64:
            prepared.clear()  # a long session: keep memory bounded
        yield to_pcm(mix)


def to_pcm(mono: FloatArray) -> Block:
    """Convert float mono samples to 16-bit interleaved frames of CHANNELS channels."""
    pcm = np.clip(np.round(mono * 32767.0), -32768, 32767).astype(np.int16)
    return np.repeat(pcm[:, None], CHANNELS, axis=1)
