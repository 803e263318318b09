"""Reading the files people write: text, TOML, and the lines problems are reported on."""

from __future__ import annotations

import pytest

from voiceguide.textfile import MAX_FILE_BYTES, TextFileError, decode, parse_toml, quote
from voiceguide.tomlpos import TomlPositions


def test_quote_escapes_control_characters_and_cuts_long_text() -> None:
    assert quote("a\nb\x1b[2J\u2028") == '"a\\nb\\x1b[2J\\u2028"'
    assert quote("café") == '"café"'
    long = quote("x" * 1000)
    assert len(long) == 42 and long.endswith('…"')


def test_decode_drops_a_byte_order_mark_and_names_the_line_of_bad_bytes() -> None:
    assert decode(b"\xef\xbb\xbftitle = 1\n", "a routine file") == "title = 1\n"
    with pytest.raises(TextFileError) as caught:
        decode(b"a\nb\n\xffc\n", "a routine file")
    assert (caught.value.line, caught.value.message) == (
        3,
        "not UTF-8 text; save the file as UTF-8",
    )


def test_decode_refuses_a_file_too_big_to_be_a_routine() -> None:
    with pytest.raises(TextFileError) as caught:
        decode(b"#" * (MAX_FILE_BYTES + 1), "a routine file")
    assert caught.value.line == 1
    assert "too big for a routine file (at most 1 MB)" in caught.value.message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a = 1\n\nb = [\n", 4, "the file ends inside a value"),  # "at end of document"
        ("a = 1\na = 2\n", 2, "remove or rename the second one"),
        ('a = "x\n', 1, '""" quotes'),
        ("a = b\n", 1, 'put text in quotes, like "45s"'),
        ("\n\nx = " + "[" * 5000, 3, "nested hundreds deep"),
        ("x = " + "{a=" * 2000 + "1" + "}" * 2000, 1, "nested hundreds deep"),
        ("\n" + ".".join(["a"] * 65) + " = 1", 2, "more than 64 dotted parts"),
        ("[" + ".".join(["a"] * 100) + "]", 1, "more than 64 dotted parts"),
    ],
)
def test_parse_toml_names_the_line_and_what_to_do(text: str, line: int, words: str) -> None:
    with pytest.raises(TextFileError) as caught:
        parse_toml(text)
    assert caught.value.line == line
    assert caught.value.message.startswith("not valid TOML: ") or "dotted" in words
    assert words in caught.value.message


def test_dots_in_strings_and_comments_are_not_dotted_keys() -> None:
    dots = ".".join(["a"] * 100)
    text = f'a = "{dots}"\nb = """\n{dots}\n"""\n# {dots}\nc = \'{dots}\'\nd.e.f = 1\n'
    assert parse_toml(text)["d"] == {"e": {"f": 1}}


def test_positions_count_only_newlines_as_line_ends() -> None:
    positions = TomlPositions('a = "one\u2028two\x85three\x0c"\nb = 1\n')
    assert positions.line_of(("b",)) == 2


def test_positions_of_dotted_keys_headers_and_escaped_keys() -> None:
    text = '# c\n\nengine.x = 1\n[voice.y]\n"\\u0072ate" = 1\n[a]\n"b\\"c" = 1\n'
    positions = TomlPositions(text)
    assert positions.line_of(("engine",)) == 3
    assert positions.line_of(("voice",)) == 4
    assert positions.line_of(("voice", "y", "rate")) == 5
    assert positions.line_of(("a", 'b"c')) == 7
