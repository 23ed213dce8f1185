"""Keys read one at a time for a command that asks a question a key (`assistant clips sort`):
from a terminal as pressed, else one a line (piped input, so that it can be scripted).

On a terminal, keys are not echoed and wait their turn for as long as the keys are read
(`key_reader`): those typed ahead (two at once, a paste, keys pressed while a clip plays) answer
the next questions in order, each shown after the question it answers. An escape sequence (an
arrow or function key) is one key, as is a character of several bytes."""

from __future__ import annotations

import codecs
import os
import select
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ESCAPE = b"\x1b"
END_OF_INPUT = "\x04"
"""Ctrl-D, which ends the input on a terminal as at a line's start."""
SEQUENCE_SECONDS = 0.1
"""How long the rest of an escape sequence may take to come after its escape (a terminal
sends a sequence at once); none by then: the Escape key alone."""

KeyReader = Callable[[str], str | None]
"""Shows a prompt and gives the next key (None at the end of the input)."""


@contextmanager
def key_reader() -> Iterator[KeyReader]:
    """How keys are read from standard input: a terminal (put back as it was on leaving) key
    by key, else line by line."""
    if not sys.stdin.isatty():
        yield read_line
        return
    descriptor = sys.stdin.fileno()
    before = termios.tcgetattr(descriptor)
    tty.setcbreak(descriptor, termios.TCSANOW)
    try:
        yield lambda prompt: read_terminal_key(descriptor, prompt)
    finally:
        termios.tcsetattr(descriptor, termios.TCSANOW, before)


def read_line(prompt: str) -> str | None:
    """A key as a line of standard input (the line's words stripped); None at its end."""
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    print(line.strip())  # as a terminal shows the key pressed
    return line.strip() if line else None


def read_terminal_key(descriptor: int, prompt: str) -> str | None:
    """The next key from the terminal `descriptor` (in cbreak mode), shown after `prompt`
    when printable; None for Ctrl-D or the terminal's end."""
    print(prompt, end="", flush=True)
    pressed = _key_bytes(descriptor)
    key = pressed.decode(errors="replace")
    print(key if key.isprintable() else "")
    return None if key in ("", END_OF_INPUT) else key


def _key_bytes(descriptor: int) -> bytes:
    """The bytes of one key: one character (UTF-8), or a whole escape sequence."""
    first = os.read(descriptor, 1)
    if first == ESCAPE:
        return first + _escape_sequence_rest(descriptor)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pressed = first
    while first and not decoder.decode(first):
        first = os.read(descriptor, 1)
        pressed += first
    return pressed


def _escape_sequence_rest(descriptor: int) -> bytes:
    """What follows an escape: `[` then a control sequence up to its final byte (`@` to `~`),
    `O` then one byte, or one other byte (Alt with a key); nothing for the Escape key alone."""
    rest = _next_byte(descriptor)
    if rest == b"[":
        while (byte := _next_byte(descriptor)) and not 0x40 <= byte[0] <= 0x7E:
            rest += byte
        return rest + byte
    if rest == b"O":
        return rest + _next_byte(descriptor)
    return rest


def _next_byte(descriptor: int) -> bytes:
    """The next byte of an escape sequence, or none if it does not come soon."""
    if not select.select([descriptor], [], [], SEQUENCE_SECONDS)[0]:
        return b""
    return os.read(descriptor, 1)
