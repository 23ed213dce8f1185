"""The audio a microphone source lends to a follow-up phrase, so one stream serves both: while
it is lent, the keyword spotter hears silence, and a loan ends with the stream."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from assistant.microphone import SAMPLE_RATE, MicrophoneError


@dataclass(eq=False)
class _Loan:
    """The audio lent to one borrower: its chunks as they are read (None: the stream closed),
    and how many samples it is still owed."""

    left: int
    chunks: queue.SimpleQueue[bytes | None] = field(default_factory=queue.SimpleQueue)


class AudioLoans:
    """The loans of one source's stream: borrowed from any thread, paid from the source's as it
    reads (`spotted`), ended when the stream closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reading = False
        """Whether a stream is open (`stream_open`)."""
        self._borrowers: list[_Loan] = []

    @property
    def lending(self) -> bool:
        """Whether some of the audio read now goes to a borrower."""
        return bool(self._borrowers)

    def borrow(self, seconds: float) -> Iterator[bytes]:
        """The next `seconds` of the audio read (16 kHz 16-bit mono chunks), for a follow-up
        phrase: meanwhile the spotter hears silence. Ends early when the stream closes;
        MicrophoneError when no stream is open (the source is not listening now)."""
        with self._lock:
            if not self.reading:
                raise MicrophoneError(
                    "the microphone source is not listening now (`assistant status` says why)"
                )
        return self._lent(int(seconds * SAMPLE_RATE))

    def _lent(self, samples: int) -> Iterator[bytes]:
        """The chunks of `borrow`, lent from the first one asked for until the last one."""
        loan = _Loan(samples)
        with self._lock:
            if not self.reading:
                return
            self._borrowers.append(loan)
        try:
            while samples > 0:
                chunk = loan.chunks.get()
                if chunk is None:  # the stream closed
                    return
                samples -= len(chunk) // 2
                yield chunk
        finally:
            with self._lock:
                if loan in self._borrowers:
                    self._borrowers.remove(loan)

    def spotted(self, samples: np.ndarray) -> np.ndarray:
        """What the spotter hears of `samples`: silence while they are lent to a borrower. A
        loan ends with its last chunk read, not once the borrower has taken it: a borrower
        slower than real time (Vosk on a slow machine) leaves the spotter deaf no longer."""
        with self._lock:
            lending = bool(self._borrowers)
            for loan in list(self._borrowers):
                loan.chunks.put(samples.tobytes())
                loan.left -= len(samples)
                if loan.left <= 0:
                    self._borrowers.remove(loan)
            return np.zeros_like(samples) if lending else samples

    def stream_open(self, reading: bool) -> None:
        """Note whether a stream is open; once it closes, the borrowers' audio ends."""
        with self._lock:
            self.reading = reading
            if not reading:
                for loan in self._borrowers:
                    loan.chunks.put(None)
                self._borrowers.clear()
