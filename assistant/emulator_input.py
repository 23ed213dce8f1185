"""What the virtual board (assistant/emulator.py) is given to send: the lines typed in a
terminal or piped in, a script's lines (`up`, `up 0.7`, `wait 1.5`, `raw ...`), or the lines a
WAV recording makes through the desktop pipeline; for `assistant emulate`, and for `assistant
run` on the virtual board."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from assistant import protocol
from assistant.config import Config

if TYPE_CHECKING:
    from assistant.emulator import VirtualBoard


def type_commands(board: VirtualBoard, ready: threading.Event | None = None) -> None:
    """Detections typed in the terminal; the prompt waits for `ready` (the daemon has heard
    the board's hello), since the board drops what it detects before a host listens."""
    if ready is not None:
        ready.wait()
    tell(
        f"Virtual board on {board.path}. Type a command ({', '.join(board.labels)}) and press "
        "Enter; Ctrl-C quits."
    )
    for line in _input_lines():
        _board_line(board, line)


def _input_lines() -> Iterator[str]:
    """The lines typed or piped in, until the input ends: at its end, or when its terminal is
    gone (closed: reading it fails with EIO)."""
    with contextlib.suppress(OSError):
        yield from sys.stdin


def tell(*lines: str, file: TextIO | None = None) -> None:
    """Print `lines` (to stdout, or `file`) for whoever watches the terminal; nobody does once
    it has closed (a command that outlives it, started with SIGHUP ignored): then they are
    dropped."""
    with contextlib.suppress(OSError):  # EIO: the terminal is gone
        print(*lines, sep="\n", flush=True, file=file)


def _board_line(board: VirtualBoard, line: str, where: str = "input") -> None:
    """One line typed or scripted for the virtual board: `up`, `up 0.7` (a score from 0 to 1),
    `wait 1.5`, `raw ...`; in any case, as `assistant send` takes it (`Up` is `up`).
    A line that makes no sense is reported with `where` and skipped."""
    words = line.split()
    if not words or words[0].startswith("#"):
        return
    keyword = protocol.command_name(words[0])
    given = words[1] if len(words) > 1 else None
    try:
        if keyword == "wait":
            time.sleep(_number(given, "a number of seconds"))
        elif keyword == "raw":
            if given is None:
                raise ValueError("`raw` needs the text to send")
            board.write_raw((line.split(" ", 1)[1].rstrip("\n") + "\n").encode("ascii", "replace"))
        else:
            board.detect(keyword, 0.95 if given is None else _number(given, "a score from 0 to 1"))
    except (ValueError, OverflowError) as error:
        tell(
            f"{where}: skipped {line.strip()!r} ({error}); write `COMMAND [SCORE]`, "
            "`wait SECONDS` or `raw TEXT`",
            file=sys.stderr,
        )


def _number(text: str | None, what: str) -> float:
    """`text` of a script line as a number, else a ValueError saying it should be `what`."""
    if text is None:
        raise ValueError(f"{what} is missing")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not {what}") from None


def emulated_board(
    args: argparse.Namespace, config: Config, link: Path, period_ms: int
) -> tuple[VirtualBoard, list[protocol.Message] | None]:
    """The virtual board `emulate` runs, and with --wav the lines it replays after its HELLO.
    With --wav the board takes the identity and thresholds of the pipeline that heard the
    recording; else it detects the configured model's commands, with its card's thresholds,
    and sends a heartbeat of its own every `period_ms` (`heartbeat_ms`)."""
    from assistant.emulator import VirtualBoard

    if not args.wav:
        board = VirtualBoard(
            config.model_commands,
            link=link,
            heartbeat_ms=period_ms,
            thresholds=config.model_thresholds,
        )
        return board, None
    (hello, *messages), thresholds = _wav_messages(args.wav, config.sections["microphone"])
    board = VirtualBoard(hello.labels, 0, hello.model, link, hello.fw, thresholds=thresholds)
    return board, messages


def heartbeat_ms(args: argparse.Namespace, config: Config) -> int:
    """How often the virtual board sends a heartbeat of its own: --heartbeat-ms, else the
    configuration's `emulator.heartbeat_ms` (0: never)."""
    if args.heartbeat_ms is None:  # 0 is an answer: no heartbeats
        return config.sections["emulator"]["heartbeat_ms"]
    return args.heartbeat_ms


def feed_board(
    board: VirtualBoard,
    args: argparse.Namespace,
    messages: list[protocol.Message] | None,
    script: list[str] | None,
    stay_heartbeat_ms: int,
) -> None:
    """Send what `emulate` was given: the WAV's lines or the script's, once a host listens
    (then return, unless --stay), else the lines typed or piped in; then wait for Ctrl-C.
    A host listens once it has sent a request: its opening of the port, which may flush what
    came before, is over then (the assistant asks INFO once greeted, HELLO when not).
    With --stay, a board that replayed a WAV goes on as a board that went on listening: a
    heartbeat every `stay_heartbeat_ms`, its uptime going on from the recording's last line."""
    if messages is not None or script is not None:
        tell(f"waiting for a host on {board.path} to send a request (a serial monitor: type INFO)")
        board.host_listening.wait()
        if messages is not None:
            last_ms = board.replay(messages, realtime=not args.fast)
            if args.stay:
                board.start_heartbeats(stay_heartbeat_ms, last_ms)
            detections = sum(isinstance(m, protocol.Detection) for m in messages)
            tell(f"replayed {args.wav}: {detections} detection(s)")
        else:
            for number, line in enumerate(script, start=1):
                _board_line(board, line, f"{args.script}:{number}")
        if not args.stay:
            time.sleep(0.5)
            return
    elif sys.stdin.isatty():
        type_commands(board)
    else:
        for line in _input_lines():
            _board_line(board, line)
    threading.Event().wait()


def _wav_messages(
    path: str, microphone: Mapping[str, Any]
) -> tuple[list[protocol.Message], dict[str, float]]:
    """What a board would have sent while hearing the WAV file: the desktop pipeline with the
    `microphone:` section's model and recognizer settings; and the threshold of each command
    that pipeline applied."""
    from assistant.microphone_settings import ListenerSettings
    from assistant.model_runner import ModelError
    from assistant.pipeline import KeywordPipeline, board_messages

    settings = ListenerSettings.from_values(microphone)
    try:
        pipeline = KeywordPipeline(settings.model_path, settings.recognizer_settings())
        messages = board_messages(pipeline, path, settings.heartbeat_ms)
    except (OSError, ValueError, ModelError) as error:
        raise SystemExit(f"cannot replay {path}: {error}") from None
    return messages, pipeline.recognizer.thresholds
