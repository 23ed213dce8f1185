"""The own-voice analysis in a worker process of its own, so that it never holds the daemon's
GIL: on a machine short of CPU the microphone thread would otherwise miss its turn to read the
sound card while a reply is analysed, and audio would be lost.

The process is started (spawned: the daemon runs threads, so it is never forked) at the first
reply to analyse and analyses every reply after it with the same `OwnVoice`
(assistant/own_voice.py). It runs at the daemon's priority: a lower one would starve it on a
machine busy with other work (at nice 19, 56 s for a reply in bench/bench_listening.py --cpu 0
--busy 9), and under a CPU quota it would not keep it from the quota the listening needs. One
that dies or does not answer within ANSWER_TIMEOUT is ended (killed), that reply cannot be told,
and a new one is started for the next reply.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from assistant.acoustics import Room

ANSWER_TIMEOUT = 120.0
"""Seconds the worker may take to answer (its start and the model's load included: some 2 s of
CPU, 40 s at a twentieth of one core) before it counts as hung."""

Answer = tuple[frozenset[str] | None, str | None, str | None]
"""The commands found (None when they cannot be told), the model's id once loaded, and why the
reply could not be analysed (None when it was)."""


class AnalysisWorker:
    """Analyses replies in a worker process, one at a time."""

    def __init__(
        self,
        microphone: Mapping[str, Any],
        synthesize: Callable[[str, Path], Path],
        rooms: Sequence[Room],
    ):
        """The arguments of the `OwnVoice` the worker builds (`synthesize` picklable: a
        module's function or a partial of one)."""
        self._arguments = (dict(microphone), synthesize, tuple(rooms))
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._busy = threading.Lock()  # held while a reply is analysed
        self._closed = False

    def analyse(self, text: str) -> tuple[frozenset[str], str | None]:
        """The commands in `text` and the id of the model that found them; RuntimeError when
        they cannot be told (the worker died or hung: it is ended; or it is closed)."""
        with self._busy:
            if self._closed:
                raise RuntimeError("the analysis process was closed")
            try:
                return self._ask(text)
            finally:
                if self._closed:  # while this reply was analysed: `close` left it to end here
                    self._stop(0)

    def close(self, timeout: float) -> None:
        """End the worker: at once when idle, else once the reply it analyses is answered (it
        is waited for at most `timeout` s)."""
        self._closed = True
        deadline = time.monotonic() + timeout
        if self._busy.acquire(timeout=timeout):
            try:
                self._stop(max(0.0, deadline - time.monotonic()))
            finally:
                self._busy.release()

    def _ask(self, text: str) -> tuple[frozenset[str], str | None]:
        if self._connection is None:
            self._start()
        assert self._connection is not None
        try:
            self._connection.send(text)
            answered = self._connection.poll(ANSWER_TIMEOUT)
            found, model_id, why = self._connection.recv() if answered else (None, None, None)
        except (EOFError, OSError):
            raise RuntimeError(
                f"the analysis process ended ({self._end()}); a new one is started for the next "
                "reply"
            ) from None
        if not answered:
            self._end()
            raise RuntimeError(
                f"the analysis process did not answer within {ANSWER_TIMEOUT:g} s; it was ended "
                "and a new one is started for the next reply"
            )
        if found is None:
            raise RuntimeError(why)
        return found, model_id

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(
            target=serve, args=(theirs, *self._arguments), name="own-voice analysis", daemon=True
        )
        self._process.start()
        theirs.close()

    def _stop(self, timeout: float) -> None:
        """Ask the worker, if any, to end, and end it after `timeout` s."""
        if self._connection is None:
            return
        with contextlib.suppress(OSError):  # it died meanwhile
            self._connection.send(None)
        assert self._process is not None
        self._process.join(timeout)
        self._end()

    def _end(self) -> str:
        """Kill the worker (when still running) and reap it; how it ended."""
        assert self._process is not None and self._connection is not None
        self._process.kill()
        self._process.join()
        code = self._process.exitcode
        self._connection.close()
        self._process.close()
        self._process = self._connection = None
        return f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"


def serve(
    connection: Connection,
    microphone: Mapping[str, Any],
    synthesize: Callable[[str, Path], Path],
    rooms: Sequence[Room],
) -> None:
    """The worker: answers each text received with an `Answer`, until None or the daemon's end."""
    from assistant.own_voice import OwnVoice

    for ending in (signal.SIGINT, signal.SIGHUP):  # the terminal's: the daemon ends this one
        signal.signal(ending, signal.SIG_IGN)
    own_voice = OwnVoice(microphone, synthesize, logging.getLogger(__name__), rooms=rooms)
    try:
        while (text := connection.recv()) is not None:
            try:
                answer: Answer = (own_voice.analyse(text), own_voice.model_id, None)
            except Exception as error:  # espeak-ng, the WAV, the model: said to the daemon
                answer = (None, own_voice.model_id, str(error))
            connection.send(answer)
    except (EOFError, BrokenPipeError):  # the daemon ended
        pass
