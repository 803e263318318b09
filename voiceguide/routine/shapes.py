"""What a line of an article can be: the patterns of steps, headings, noise and safety."""

from __future__ import annotations

import re

from voiceguide.spoken import NUMBER_WORDS

Line = tuple[int, str]  # (line number in the article, text)

_NUMBER_WORDS = NUMBER_WORDS[1:16]  # one to fifteen
_ORDINAL_WORDS = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
]

# "Step 3: Title", "Step #3 -", "Step One.", "Step 3 of 7:", "Exercise 2:".
STEP_LABEL = re.compile(
    r"^\s*(?:step|exercise|stretch|pose|move|movement)\s*#?\s*"
    rf"(\d{{1,3}}|{'|'.join(_NUMBER_WORDS)})\b(?:\s+of\s+\d+)?\s*[:.)\-–—]?\s*(.*)$",
    re.IGNORECASE,
)
# Its closing #s go with rstrip: a lazy (.*?)\s*#*$ takes quadratic time on a run of spaces.
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
# "1. text", "1) text", "1 - text", "2: text"; a glued "1Lumbar Rotation" is read apart.
_NUMBERED = re.compile(r"^(\d{1,2})\s*(?:[.):]|\s[-–—])\s*(.*\S)\s*$")
_GLUED = re.compile(r"^(\d{1,2})([A-Z][A-Za-z'’-]+(?:\s+\S+){0,7})$")
_LETTERED = re.compile(r"^(?:\d{1,2}[a-z]|[a-h])[.)]\s+(.*)$")
_BULLET = re.compile(r"^[-*+•◦▪●·]\s+(.*)$")
_BOLD_LEAD = re.compile(r"^(\*\*|__)(.+?)\1\s*[:.\-–—]?\s*(.*)$")
_ORDINAL_START = re.compile(
    r"^(first(ly)?|to (begin|start)|start by|begin by|next|then|after that|afterwards|now|"
    r"second(ly)?|third(ly)?|finally|lastly|last|to finish)\b[,:]?",
    re.IGNORECASE,
)
_INLINE_STEP = re.compile(
    rf"\b(?:(?:{'|'.join(_ORDINAL_WORDS)}|final|last|next) step|step (?:{'|'.join(_NUMBER_WORDS)}"
    r"|\d{1,2}))\s*[:,.\-–—]\s*",
    re.IGNORECASE,
)
_FRONT_TITLE = re.compile(r"^title\s*:\s*[\"']?(.*?)[\"']?\s*$", re.IGNORECASE)

_NOISE = re.compile(
    r"^(?:[+\-−–—×x•·*|>_=~]+|share|share this( article| page)?|share on \w+|advertisement|"
    r"ad|sponsored( content)?|print|print this( page)?|save|pin( it)?|tweet|email|facebook|"
    r"read more|see more|show more|continue reading|skip to (main )?content|subscribe|"
    r"sign up|jump to (recipe|section)|back to top|table of contents|contents|in this article|"
    r"menu|close|watch( now| the video)?.*|video:.*|play video|\(?image[^)]*\)?|photo:.*|"
    r"photo by .*|image:.*|image credit.*|credit:.*|illustration:.*|.*(getty images|"
    r"shutterstock|istock)\b.*|\d+ comments?|comments? \(\d+\)|leave a (comment|reply)|reply|"
    r"by [\w .,'-]{1,60}|(written|co-?authored|edited|compiled) by .*|next|previous|prev|"
    r"slideshow|gallery|copyright .*|©.*|all rights reserved.*|author:.*|"
    r"medically reviewed.*|medical review.*|"
    r"reviewed by .*|fact[- ]checked.*|current as of.*|last (updated|reviewed).*|updated:?\s.*|"
    r"published:?\s.*|.*\b\d+ min(ute)?s? read\b.*|.*[›»].*|home\s*[/>].*|"
    r"(pdf )?download( article| pdf| the pdf| this (sheet|guide))?( \(pdf\))?|"
    r"download the .* (pdf|sheet|guide)|pdf download.*|printable (pdf|version)|"
    r"was this (page |article )?helpful\??.*|yes\s*/?\s*no|rate this.*|"
    r"(sign up|subscribe) (for|to) .*newsletter.*|.*\bnewsletter\b.*|enter your email.*|"
    r"get (our|the) .*(in your inbox|delivered).*|follow us.*|"
    r"(this (article|content|information|page) is|the information .* is) (for|provided for|"
    r"not) .*(informational|educational|medical advice|substitute).*|"
    r".*\bnot (a substitute|intended as a substitute) for\b.*|disclaimer:.*|"
    r"\[\d+(,\s*\d+)*\]|\d{1,2}/\d{1,2}/\d{2,4})$",
    re.IGNORECASE,
)
_NOISE_MAX = 240
_SKIP = re.compile(
    r"benefit|conclusion|faq|frequently asked|question|summary|final thought|takeaway|"
    r"bottom line|reference|source|related|about the author|comments?\b|you may also|"
    r"you might also|tips?\b|checklist|why (it|this) works|the science|what the research|"
    r"research|newsletter|more (articles|stories)|further reading|resources|disclaimer|"
    r"credits?\b|video|watch|share|sign up",
    re.IGNORECASE,
)
_SAFETY = re.compile(
    r"safety|safe\b|precaution|warning|caution|contraindication|who should not|when not to|"
    r"be careful|important|when to stop|stop if|when to (see|call|seek)|see a doctor|"
    r"red flags?|before you (start|begin).*(doctor|safe)",
    re.IGNORECASE,
)
_PREPARATION = re.compile(
    r"prepar|what you need|you will need|you'll need|getting ready|get ready|"
    r"before you (begin|start)|set ?-?up|equipment|supplies|getting started",
    re.IGNORECASE,
)
_CONTAINER = re.compile(
    r"^(instructions|steps|directions|how to|method|the routine|routine|the exercises|"
    r"exercises|the stretches|stretches|the technique|technique|what to do|the practice|"
    r"practice|the sequence|sequence)\b",
    re.I,
)
# Sentences that are safety notes wherever they stand.
_LABELLED_SAFETY = re.compile(
    r"^(?:caution|warning|important|safety( note)?|red flag)\s*[:!-]", re.IGNORECASE
)
# A sentence that warns: it opens like a warning and names a harm or a professional.
_WARNS = re.compile(
    r"^(?:stop|see|call|contact|consult|ask|check with|talk to|speak to|seek|if|do not|don't|"
    r"never|avoid|skip|people with|anyone with|those with|when to)\b",
    re.IGNORECASE,
)
_HARM = re.compile(
    r"pain|hurts?\b|doctor|\bgp\b|physio|nurse|dentist|medical|numb|tingl|dizz|faint|"
    r"light-headed|worse|injur|pregnan|swell|swollen|blood clot|condition|surgery|varicose|"
    r"\bcuts?\b|wound|short of breath|chest|diabet|fracture|bleed",
    re.IGNORECASE,
)


def is_safety(sentence: str) -> bool:
    """Tell whether a sentence is a safety note, wherever it stands."""
    sentence = sentence.strip("*_ ")
    if _LABELLED_SAFETY.match(sentence):
        return True
    return bool(_WARNS.match(sentence) and _HARM.search(sentence))


_IMPERATIVE = re.compile(
    r"^(?:(?:now|then|next|slowly|gently|first|finally|again|carefully|softly|keeping [^,]+),?\s+)?"
    r"(?:lie|sit|stand|place|put|press|hold|breathe|inhale|exhale|relax|repeat|bring|lift|raise|"
    r"lower|turn|roll|rotate|bend|reach|slide|keep|let|move|rest|stretch|knead|rub|massage|"
    r"tense|tighten|release|close|open|begin|start|return|switch|draw|pull|push|squeeze|"
    r"notice|feel|count|focus|imagine|allow|take|use|make|cross|extend|straighten|step|walk|"
    r"kneel|drop|tuck|tilt|nod|shrug|circle|glide|sweep|stroke|tap|wiggle|point|flex|curl|"
    r"clasp|interlace|hug|twist|arch|round|lengthen|soften|scan|visuali[sz]e|picture|stay|"
    r"continue|do|try|find|get|go|lean|look|gaze|sink|settle|squat|shift|apply|work|hook|"
    r"grip|grasp|cup|spread|sigh|hum|pause|wait|swap|change|alternate|perform|complete|aim|"
    r"set|lay|rock|sway|roll|rise|come|fold|hinge|clench|scrunch|wrap|loop|anchor|drag|"
    r"brace|engage|activate|pinch|stroke|trace|breath)\b"
    # "Rest is when the body repairs itself" states a fact; the word is a noun there.
    r"(?!\s+(?:is|are|was|were|can|could|will|may|might|helps?|means?|has|have|matters?)\b)",
    re.IGNORECASE,
)
_YOUR = re.compile(r"\byour\b", re.IGNORECASE)
