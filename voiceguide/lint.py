"""Warnings about routines that load but would not sound right."""

from __future__ import annotations

import re

from voiceguide.errors import Diagnostic
from voiceguide.importer import narration_ms
from voiceguide.routine import Routine, Variant
from voiceguide.timeline import compile_timeline

LONG_SENTENCE_WORDS = 30
ESTIMATED_CHIME_MS = 1500


def estimated_measure(text: str) -> int:
    """Estimate a spoken line's length without synthesizing it."""
    return narration_ms(text)


def lint(routine: Routine) -> list[Diagnostic]:
    """Return warnings: hard-to-follow sentences, steps too short for their words, and so on."""
    warnings: list[Diagnostic] = []
    source = routine.source
    for step in routine.steps:
        for text in {step.text, step.short_text} - {""}:
            if text.strip().rstrip(".!?").lower() == step.title.strip().rstrip(".!?").lower():
                warnings.append(
                    Diagnostic(
                        source,
                        step.line,
                        f'step "{step.id}" only repeats its title; say what to do',
                    )
                )
            for sentence in re.split(r"(?<=[.!?])\s+", text):
                words = len(sentence.split())
                if words > LONG_SENTENCE_WORDS:
                    warnings.append(
                        Diagnostic(
                            source,
                            step.line,
                            f'step "{step.id}" has a sentence of {words} words, hard to '
                            f"follow with eyes closed; split it (at most {LONG_SENTENCE_WORDS})",
                        )
                    )
        if step.short_ms > step.full_ms:
            warnings.append(
                Diagnostic(
                    source, step.duration_line, f'step "{step.id}" is longer in the short version'
                )
            )
    for variant in Variant:
        timeline = compile_timeline(
            routine, variant, estimated_measure, chime_ms=ESTIMATED_CHIME_MS
        )
        warnings += [
            Diagnostic(w.path, w.line, w.message + " (estimated at 150 words a minute)")
            for w in timeline.warnings
        ]
    return warnings
