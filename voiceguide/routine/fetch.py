"""Fetch an article from a URL: an ordinary HTTP GET with a timeout and a size cap.

It returns the page's text and whether it is HTML; every failure (offline, a
timeout, a 404, a page too big) is one UsageError saying what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voiceguide.errors import UsageError
from voiceguide.textfile import MAX_FILE_BYTES

TIMEOUT_S = 15.0
URL = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Fetched:
    """A page fetched from a URL."""

    url: str
    text: str
    is_html: bool
    name: str  # a routine name made from the URL's last path part


def is_url(spec: str) -> bool:
    """Tell whether what the user named is a web address."""
    return bool(URL.match(spec))


def name_of(url: str) -> str:
    """Return a routine name from a URL: its last path part without a suffix."""
    path = re.sub(r"[?#].*$", "", url).rstrip("/")
    last = path.rsplit("/", 1)[-1] if path.count("/") > 2 else ""
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", last)
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-").lower() or "imported"


def fetch(url: str, *, timeout_s: float = TIMEOUT_S, max_bytes: int = MAX_FILE_BYTES) -> Fetched:
    """Fetch a page, or raise UsageError with one line saying why not."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "voiceguide article import"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw = response.read(max_bytes + 1)
            content_type = response.headers.get("Content-Type", "")
            charset = response.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as err:
        err.close()  # it holds the error page's open response
        raise UsageError(
            f"{url}: the server answered {err.code} {err.reason}; check the address"
        ) from None
    except urllib.error.URLError as err:
        raise UsageError(
            f"{url}: cannot fetch the page ({_reason(err.reason)}); check the address and "
            "that you are online, or save the page and import the file"
        ) from None
    except TimeoutError:
        raise UsageError(
            f"{url}: no answer within {timeout_s:g} s; try again, or save the page and import "
            "the file"
        ) from None
    except (OSError, ValueError) as err:
        raise UsageError(f"{url}: cannot fetch the page ({err})") from None
    if len(raw) > max_bytes:
        raise UsageError(
            f"{url}: the page is over {max_bytes // 1_048_576} MB, too big for an article; "
            "save the part you want as a .txt file"
        )
    text = raw.decode(charset, errors="replace")
    is_html = "html" in content_type.lower() or bool(re.match(r"\s*<", text[:200]))
    return Fetched(url, text, is_html, name_of(url))


def _reason(reason: object) -> str:
    text = str(getattr(reason, "strerror", None) or reason)
    return text.removeprefix("[Errno -2] ").removeprefix("[Errno -3] ")
