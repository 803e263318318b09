"""The podcast feed of served sessions: RSS 2.0 with iTunes, Podcasting 2.0 and Podlove chapters.

Pure text and bytes from rendered sessions; the server (serve.py) gives the URLs.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import zlib
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from voiceguide.routine.model import Routine, Variant
from voiceguide.sinks.renders import Rendered
from voiceguide.sinks.tags import Chapter

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
PSC = "http://podlove.org/simple-chapters"
ATOM = "http://www.w3.org/2005/Atom"
COVER_PX = 1400  # the least Apple Podcasts accepts


@dataclass(frozen=True)
class Episode:
    """One item of the feed: a rendered session and where its parts are served."""

    routine: Routine
    variant: Variant
    rendered: Rendered
    audio_url: str
    chapters_url: str
    transcript_url: str


def _clock(ms: int) -> str:
    """Return ms as HH:MM:SS.mmm (Podlove Simple Chapters' normal play time)."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def description(routine: Routine, variant: Variant) -> str:
    """Return an episode's show notes: the description, the steps and the safety notes."""
    parts = [routine.description.strip()] if routine.description.strip() else []
    steps = routine.steps_of(variant)
    parts.append("Steps:\n" + "\n".join(f"{n}. {s.title}" for n, s in enumerate(steps, 1)))
    if routine.safety.strip():
        parts.append("Safety: " + " ".join(routine.safety.split()))
    return "\n\n".join(parts)


def chapters_json(chapters: tuple[Chapter, ...], title: str) -> str:
    """Return Podcasting 2.0 JSON chapters (startTime and endTime in seconds, to the ms)."""
    return json.dumps(
        {
            "version": "1.2.0",
            "title": title,
            "chapters": [
                {"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000, "title": c.title}
                for c in chapters
            ],
        },
        indent=1,
    )


def rss(episodes: list[Episode], *, feed_url: str, player_url: str, cover_url: str) -> bytes:
    """Return the feed: an item per session, newest routine order kept as given."""
    for prefix, uri in (("itunes", ITUNES), ("podcast", PODCAST), ("psc", PSC), ("atom", ATOM)):
        ET.register_namespace(prefix, uri)
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, tag, attrs)
        if text is not None:
            element.text = text
        return element

    sub(channel, "title", "voiceguide")
    sub(channel, "link", player_url)
    sub(channel, "description", "Spoken, timed self-care sessions, from your own voiceguide.")
    sub(channel, "language", "en")
    sub(channel, f"{{{ATOM}}}link", href=feed_url, rel="self", type="application/rss+xml")
    image = sub(channel, "image")
    sub(image, "url", cover_url)
    sub(image, "title", "voiceguide")
    sub(image, "link", player_url)
    sub(channel, f"{{{ITUNES}}}image", href=cover_url)
    sub(channel, f"{{{ITUNES}}}author", "voiceguide")
    sub(channel, f"{{{ITUNES}}}category", text="Health & Fitness")
    sub(channel, f"{{{ITUNES}}}explicit", "false")
    sub(channel, f"{{{ITUNES}}}type", "episodic")
    sub(channel, f"{{{ITUNES}}}block", "Yes")  # private: never list it in a directory
    for episode in episodes:
        done = episode.rendered
        item = sub(channel, "item")
        sub(item, "title", f"{done.title} ({episode.variant})")
        sub(item, "description", description(episode.routine, episode.variant))
        sub(
            item,
            "enclosure",
            url=episode.audio_url,
            length=str(done.size),
            type="audio/mpeg",
        )
        sub(item, "guid", done.key, isPermaLink="false")
        created = email.utils.format_datetime(datetime.datetime.fromisoformat(done.created))
        sub(item, "pubDate", created)
        sub(item, f"{{{ITUNES}}}duration", str(round(done.total_ms / 1000)))
        sub(item, f"{{{ITUNES}}}episodeType", "full")
        sub(item, f"{{{ITUNES}}}explicit", "false")
        sub(
            item,
            f"{{{PODCAST}}}chapters",
            url=episode.chapters_url,
            type="application/json+chapters",
        )
        sub(item, f"{{{PODCAST}}}transcript", url=episode.transcript_url, type="text/vtt")
        chapters = sub(item, f"{{{PSC}}}chapters", version="1.2")
        for chapter in done.chapters:
            sub(chapters, f"{{{PSC}}}chapter", start=_clock(chapter.start_ms), title=chapter.title)
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text


def cover_png(size: int = COVER_PX) -> bytes:
    """Return the cover: a pale moon over a deep blue night, as a square PNG of size pixels."""
    import numpy as np

    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    night = np.stack([10 + 20 * y, 18 + 30 * y, 40 + 50 * y], axis=-1)
    moon = np.hypot(x - 0.5, y - 0.42) < 0.22
    shadow = np.hypot(x - 0.58, y - 0.36) < 0.2  # a crescent: the moon less an offset disc
    crescent = moon & ~shadow
    glow = np.clip(1 - np.hypot(x - 0.5, y - 0.42) / 0.45, 0, 1)[..., None] * 40
    pixels = night + glow
    pixels[crescent] = (236, 226, 190)
    horizon = y > 0.8  # the floor where one lies down
    pixels[horizon] = pixels[horizon] * 0.6
    rows = np.clip(pixels, 0, 255).astype(np.uint8).reshape(size, size * 3)
    raw = np.concatenate([np.zeros((size, 1), np.uint8), rows], axis=1).tobytes()  # filter 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        crc = zlib.crc32(body) & 0xFFFFFFFF
        return len(data).to_bytes(4, "big") + body + crc.to_bytes(4, "big")

    header = size.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
