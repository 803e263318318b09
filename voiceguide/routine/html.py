"""Saved web pages: the main content as Markdown, its warning boxes as a Safety section.

trafilatura finds the main content (dropping navigation, share buttons, ads,
newsletter boxes and footers) and writes it as Markdown with its headings,
lists and bold leads, which article.py then reads like any Markdown article.
trafilatura drops asides, so warning boxes are taken from the DOM first.
"""

from __future__ import annotations

import re

from voiceguide.errors import Diagnostic, RoutineError

_BOX = re.compile(r"warning|caution|alert|safety|danger|important|precaution", re.IGNORECASE)


def html_to_article(page: str, *, source: str) -> str:
    """Return a saved page's main content as a Markdown article, or raise RoutineError."""
    import trafilatura

    markdown = trafilatura.extract(
        page,
        output_format="markdown",
        include_formatting=True,
        include_links=False,
        include_images=False,
        include_tables=False,
        include_comments=False,
        favor_recall=True,
    )
    if not markdown or not markdown.strip():
        raise RoutineError(
            [
                Diagnostic(
                    source,
                    1,
                    "no article text found in this page; save the page again, "
                    "or copy its text into a .txt file",
                )
            ]
        )
    boxes = [box for box in safety_boxes(page) if box not in markdown]
    if boxes:
        markdown += "\n\n## Safety\n\n" + "\n\n".join(boxes) + "\n"
    return markdown


def safety_boxes(page: str) -> list[str]:
    """Return the text of each warning box (an aside or a block marked warning, caution...)."""
    from lxml import html as lxml_html

    try:
        root = lxml_html.fromstring(page)
    except (ValueError, TypeError, SyntaxError):  # lxml refuses empty or odd documents
        return []
    found: list[str] = []
    for element in root.iter("aside", "div", "section", "p", "blockquote"):
        marks = " ".join(str(element.get(a) or "") for a in ("class", "role", "id"))
        if element.tag == "aside" or _BOX.search(marks):
            if any(_BOX.search(" ".join(str(p.get(a) or "") for a in ("class", "role", "id")))
                   for p in element.iterancestors()):  # fmt: skip
                continue  # inside a box already taken
            text = " ".join(element.text_content().split())
            if text and (_BOX.search(marks) or _BOX.search(text[:40])) and text not in found:
                found.append(text)
    return found
