"""Follow-up phrases heard in other rooms: the hub asks a site's satellite to play its listening
cue and listen, and takes its answer within the request's window (docs/mqtt.md); without one
(an old satellite, a lost message) the skill gets None, as from a local listener that heard
nothing, and uses its default."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.phrase import log_heard
from assistant.rooms import topics as wire
from assistant.rooms.ignored import RoomStats
from assistant.rooms.mqtt_client import MqttConnection

log = logging.getLogger("assistant.hub")


@dataclass
class _Waiting:
    site: str
    answered: threading.Event = field(default_factory=threading.Event)
    answer: wire.PhraseAnswer | None = None


class RemotePhrases:
    """Asks satellites for follow-up phrases on `connection` (whose `topics_resent_by_caller`
    must take `topics.all_phrase_requests`); `online(site)` says whether a site's satellite is
    online. `clock` counts seconds, suspend included."""

    def __init__(
        self,
        connection: MqttConnection,
        topics: wire.Topics,
        clock: Callable[[], float],
        online: Callable[[str], bool],
        stats: RoomStats,
    ):
        self.connection = connection
        self.topics = topics
        self.clock = clock
        self.stats = stats
        self._online = online
        self._waiting: dict[str, _Waiting] = {}
        self._ids = wire.message_ids()
        self._lock = threading.Lock()

    def listen(
        self,
        site: str,
        grammar: list[str],
        seconds: float,
        stopped: Callable[[], bool],
        prompt: str,
    ) -> str | None:
        """The phrase `site`'s satellite heard after its cue, as PhraseListener.listen: None
        when it heard nothing, could not listen, did not answer within the window, or once
        `stopped()` is true (checked every 0.1 s)."""
        if not self._online(site):
            return self._default(site, "its satellite is offline")
        window = seconds + wire.PHRASE_MARGIN
        request = wire.PhraseRequest(next(self._ids), list(grammar), seconds, prompt, window)
        waiting = _Waiting(site)
        with self._lock:
            self._waiting[request.id] = waiting
        deadline = self.clock() + window
        try:
            self.connection.publish(
                self.topics.phrase_request(site), wire.encode_phrase_request(request)
            )
            while not waiting.answered.wait(0.1):
                if stopped():
                    log.info("follow-up phrase from site %r: told to stop waiting", site)
                    return None
                if self.clock() >= deadline:
                    return self._default(
                        site,
                        f"its satellite did not answer within {window:g} s (a satellite of "
                        "before follow-up phrases over MQTT does not listen for the hub; update "
                        "it)",
                    )
        finally:
            with self._lock:
                del self._waiting[request.id]
        answer = waiting.answer
        if answer.problem:
            return self._default(site, f"its satellite could not listen: {answer.problem}")
        log_heard(log, f"follow-up phrase from site {site!r}", answer.text)
        return answer.text

    def on_answer(self, topic: str, payload: bytes) -> None:
        """An answer on `P/site/S/phrase/answer`: given to the request waiting for it; one for
        no request waiting (its window passed) is ignored with a warning."""
        try:
            site = self.topics.site_of(topic)
            answer = wire.decode_phrase_answer(payload)
        except wire.PayloadError as error:
            self.stats.ignore(
                log, "malformed-phrase-answer", "ignored a message on %s: %s", topic, error
            )
            return
        with self._lock:
            waiting = self._waiting.get(answer.id)
            if waiting is not None and waiting.site == site and waiting.answer is None:
                waiting.answer = answer
                waiting.answered.set()
                return
        self.stats.warnings.warning(
            log,
            "late-phrase-answer",
            "ignored an answer of site %r to a follow-up phrase request the hub no longer waits "
            "for (%s): %s",
            site,
            answer.id,
            answer.problem or ("a phrase understood" if answer.text else "nothing understood"),
        )

    def _default(self, site: str, why: str) -> None:
        log.warning("no follow-up phrase from site %r: %s; the skill uses its default", site, why)
        return None
