"""Warnings about routines that load but would not sound right.

Sits above the routine model and the compiler: some warnings need a timeline,
compiled with estimated line lengths (nothing is synthesized).
"""

from __future__ import annotations

from voiceguide.errors import Diagnostic
from voiceguide.routine.model import Routine, Variant
from voiceguide.spoken import DEFAULT_RATE_WPM, estimate_ms, sentences
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Timeline
from voiceguide.timeline.script import ESTIMATED_CHIME_MS

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
            for sentence in sentences(text):
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
            Diagnostic(
                w.path, w.line, w.message + f" (estimated at {DEFAULT_RATE_WPM} words a minute)"
            )
            for w in timeline.warnings
        ]
    return warnings
