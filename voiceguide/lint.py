"""Warnings about routines that load but would not sound right."""

from __future__ import annotations

import re

from voiceguide.errors import Diagnostic
from voiceguide.routine import Routine, Variant
from voiceguide.timeline import ESTIMATED_CHIME_MS, Timeline, compile_timeline, estimate_ms

LONG_SENTENCE_WORDS = 30


def estimated_timeline(routine: Routine, variant: Variant) -> Timeline:
    """Compile a routine with estimated speech lengths, synthesizing nothing."""
    return compile_timeline(routine, variant, estimate_ms, chime_ms=ESTIMATED_CHIME_MS)


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
        timeline = estimated_timeline(routine, variant)
        warnings += [
            Diagnostic(w.path, w.line, w.message + " (estimated at 150 words a minute)")
            for w in timeline.warnings
        ]
    return warnings
