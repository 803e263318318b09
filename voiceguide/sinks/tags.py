"""What goes into an exported file besides audio: tags, chapters, transcript, chapter list.

Tags and chapters are written with mutagen (ID3 CHAP and CTOC frames for MP3
and WAV, Vorbis comments for Ogg, Opus and FLAC, MP4 atoms for AAC); MP4
chapters go in through ffmpeg, since mutagen cannot write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceguide.timeline.model import Kind, Timeline
from voiceguide.units import format_clock

GENRE = "Speech"
SLEEP_CHAPTER = "Sleep"  # a sleep ending's music after the last words


@dataclass(frozen=True)
class Chapter:
    """A named stretch of the session."""

    title: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Tags:
    """The tags and chapters of one exported session."""

    title: str
    artist: str
    album: str
    genre: str
    year: int
    comment: str
    chapters: tuple[Chapter, ...]


def chapters_of(timeline: Timeline) -> tuple[Chapter, ...]:
    """Return one chapter per step, plus the introduction, the closing and any sleep music."""
    chapters = []
    end = timeline.session_ms
    first = timeline.steps[0].start_ms if timeline.steps else end
    if first > 0:
        chapters.append(Chapter("Introduction", 0, first))
    chapters += [Chapter(s.title, s.start_ms, s.end_ms) for s in timeline.steps]
    last = timeline.steps[-1].end_ms if timeline.steps else first
    if last < end:
        chapters.append(Chapter("Closing", last, end))
    if end < timeline.total_ms:
        chapters.append(Chapter(SLEEP_CHAPTER, end, timeline.total_ms))
    return tuple(chapters)


def tags_for(timeline: Timeline, *, comment: str, year: int) -> Tags:
    """Return the tags of an exported session."""
    return Tags(
        title=f"{timeline.title} ({timeline.variant})",
        artist="voiceguide",
        album="voiceguide",
        genre=GENRE,
        year=year,
        comment=" ".join(comment.split()),
        chapters=chapters_of(timeline),
    )


def _vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def webvtt(timeline: Timeline) -> str:
    """Return a WebVTT transcript: every spoken line at its time."""
    cues = ["WEBVTT", ""]
    for segment in timeline.segments:
        if segment.kind in (Kind.SPEECH, Kind.CUE):
            text = segment.text.replace("-->", "→")  # "-->" would end the timing line
            cues += [f"{_vtt_time(segment.start_ms)} --> {_vtt_time(segment.end_ms)}", text, ""]
    return "\n".join(cues)


def chapter_list(chapters: tuple[Chapter, ...]) -> str:
    """Return chapters as plain lines, "mm:ss Title", for show notes."""
    lines = []
    for chapter in chapters:
        seconds = chapter.start_ms // 1000
        stamp = format_clock(seconds * 1000)
        lines.append(f"{stamp} {chapter.title}")
    return "\n".join(lines) + "\n"


def ffmetadata(tags: Tags) -> str:
    """Return chapters in ffmpeg's FFMETADATA format (for MP4)."""

    def escape(text: str) -> str:
        for char in "\\=;#\n":
            text = text.replace(char, "\\" + char)
        return text

    lines = [";FFMETADATA1"]
    for chapter in tags.chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={chapter.start_ms}",
            f"END={chapter.end_ms}",
            f"title={escape(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


def _id3(tags: Tags) -> list[object]:
    from mutagen.id3 import CHAP, COMM, CTOC, TALB, TCON, TDRC, TIT2, TPE1, CTOCFlags

    frames: list[object] = [
        TIT2(encoding=3, text=[tags.title]),
        TPE1(encoding=3, text=[tags.artist]),
        TALB(encoding=3, text=[tags.album]),
        TCON(encoding=3, text=[tags.genre]),
        TDRC(encoding=3, text=[str(tags.year)]),
        COMM(encoding=3, lang="eng", desc="", text=[tags.comment]),
    ]
    ids = [f"chp{index:03d}" for index in range(len(tags.chapters))]  # sorts in time order
    for element, chapter in zip(ids, tags.chapters, strict=True):
        frames.append(
            CHAP(
                element_id=element,
                start_time=chapter.start_ms,
                end_time=chapter.end_ms,
                sub_frames=[TIT2(encoding=3, text=[chapter.title])],
            )
        )
    # Without a table of contents many players ignore the chapters.
    frames.append(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(encoding=3, text=[tags.title])],
        )
    )
    return frames


def _in_added_order(id3: Any) -> None:
    """Make an ID3 tag write its frames in the order they were added.

    mutagen sorts the frames it writes by size, so CHAP frames come out
    shuffled (Closing, Kneading, Introduction, ...) and a player that reads
    them without the CTOC lists the chapters in that order. The frames are
    added in time order, so writing them as added keeps it. This replaces
    mutagen's private ID3._write (stable since mutagen 1.31) for this tag only.
    """
    from mutagen.id3._tags import save_frame

    def write(config: Any) -> bytes:
        return b"".join(save_frame(frame, config=config) for frame in id3.values())

    id3._write = write


def write_tags(path: Path, suffix: str, tags: Tags) -> None:
    """Write tags (and, except for MP4, chapters) into an encoded file."""
    if suffix in (".mp3", ".wav"):
        from mutagen.id3 import ID3
        from mutagen.wave import WAVE

        if suffix == ".wav":
            wave = WAVE(str(path))
            if wave.tags is None:
                wave.add_tags()
            id3 = wave.tags
        else:
            id3 = ID3()
        assert id3 is not None
        for frame in _id3(tags):
            id3.add(frame)
        _in_added_order(id3)
        if suffix == ".wav":
            wave.save()
        else:
            id3.save(str(path), v2_version=3)
    elif suffix in (".ogg", ".opus", ".flac"):
        from mutagen.flac import FLAC
        from mutagen.oggopus import OggOpus
        from mutagen.oggvorbis import OggVorbis

        kinds = {".ogg": OggVorbis, ".opus": OggOpus, ".flac": FLAC}
        audio = kinds[suffix](str(path))
        comments = {
            "TITLE": tags.title,
            "ARTIST": tags.artist,
            "ALBUM": tags.album,
            "GENRE": tags.genre,
            "DATE": str(tags.year),
            "COMMENT": tags.comment,
        }
        for number, chapter in enumerate(tags.chapters, start=1):
            comments[f"CHAPTER{number:03d}"] = _vtt_time(chapter.start_ms)
            comments[f"CHAPTER{number:03d}NAME"] = chapter.title
        for key, value in comments.items():
            audio[key] = value
        audio.save()
    elif suffix in (".m4a", ".m4b"):
        from mutagen.mp4 import MP4

        mp4 = MP4(str(path))
        if mp4.tags is None:
            mp4.add_tags()
        assert mp4.tags is not None
        mp4.tags["\xa9nam"] = [tags.title]
        mp4.tags["\xa9ART"] = [tags.artist]
        mp4.tags["\xa9alb"] = [tags.album]
        mp4.tags["\xa9gen"] = [tags.genre]
        mp4.tags["\xa9day"] = [str(tags.year)]
        mp4.tags["\xa9cmt"] = [tags.comment]
        mp4.save()
