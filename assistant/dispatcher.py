"""Turns accepted commands into skill actions: minimum score, cooldown, focus. A command's
actions run one after another in list order; a failure stops the list, and the skill of the
first action gets focus once that action succeeded. A `when:` list whose first action finds
nothing to act on (NothingToDo: "go" resuming music that already plays) hands the command to
the command's `do:` list."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from assistant.config import Config
from assistant.config_commands import ActionCall
from assistant.focus import Focus
from assistant.host import PluginHost
from assistant.plugin import CommandEvent, NothingToDo

log = logging.getLogger("assistant.dispatch")


class ActionOutcome(Future):
    """The outcome of one action a command runs, `call`: its reply, or the exception it
    raised."""

    def __init__(self, call: ActionCall):
        super().__init__()
        self.call = call


@dataclass(frozen=True)
class HandedOver:
    """The result of a `when:` list's first action that found nothing to do: the outcomes of
    the `do:` list that ran instead, all done."""

    outcomes: list[ActionOutcome]


def as_run(outcomes: list[ActionOutcome]) -> list[ActionOutcome]:
    """`outcomes` with the outcomes of a `do:` list in place of the `when:` action that handed
    the command to it: the actions' outcomes in the order they ran, or were to."""
    ran = []
    for outcome in outcomes:
        settled = outcome.done() and not outcome.cancelled() and outcome.exception() is None
        handed = outcome.result() if settled else None
        ran.extend(handed.outcomes if isinstance(handed, HandedOver) else [outcome])
    return ran


def _not_run(outcomes: list[ActionOutcome]) -> None:
    """Settle the outcomes of actions that will not run as cancelled (done, for `wait` too)."""
    for outcome in outcomes:
        outcome.cancel()
        outcome.set_running_or_notify_cancel()


class Chooser:
    """Chooses the actions of each command (its mapping, min_score, cooldown, focus) and logs
    the choice, or why none; runs nothing. `assistant devices --listen` shows with it what the
    assistant would do with each command heard."""

    def __init__(self, config: Config, focus: Focus):
        self.config = config
        self.focus = focus
        self._last_run: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def choose(
        self, event: CommandEvent
    ) -> tuple[tuple[ActionCall, ...], tuple[ActionCall, ...]] | str:
        """The actions to run and those to run instead when the first finds nothing to do (the
        `do:` list in place of a `when:` list; else none), or why no action runs; logged. The
        cooldown counts from a command chosen here."""
        with self._lock:
            chosen = self._choose(event)
        if isinstance(chosen, str):
            log.info("%s", chosen)
        return chosen

    def _choose(
        self, event: CommandEvent
    ) -> tuple[tuple[ActionCall, ...], tuple[ActionCall, ...]] | str:
        """`choose`, under its lock; only the actions chosen are logged here."""
        rule = self.config.commands.get(event.command)
        if rule is None:
            return f"{event.command!r} is not mapped to any action in {self.config.file}"
        if event.score < rule.min_score:
            return (
                f"ignored {event.command!r}: score {event.score:.2f} is below its "
                f"min_score {rule.min_score:g}"
            )
        key = (event.site, event.command)
        last = self._last_run.get(key)
        if last is not None and event.received - last < rule.cooldown:
            return f"ignored {event.command!r}: repeated within its {rule.cooldown:g} s cooldown"
        focused = self.focus.current()
        calls = rule.when_focused.get(focused, rule.actions) if focused else rule.actions
        otherwise = rule.actions if calls is not rule.actions else ()
        if not calls:
            return f"{event.command!r} maps to no action in {self.config.file}"
        self._last_run[key] = event.received
        log.info(
            "%s: %r (%.2f) -> %s",
            event.source,
            event.command,
            event.score,
            ", ".join(map(str, calls)),
        )
        return calls, otherwise


class Dispatcher(Chooser):
    """Chooses the actions of each command (`handle`, or `run` to learn why none ran) and runs
    them on the plugin host."""

    def __init__(
        self,
        config: Config,
        host: PluginHost,
        focus: Focus,
        accepted: Callable[[CommandEvent], None] | None = None,
    ):
        """`accepted(event)` is called for each command that runs actions, before they start
        (so before any reply)."""
        super().__init__(config, focus)
        self.host = host
        self.accepted = accepted

    def handle(self, event: CommandEvent) -> list[ActionOutcome]:
        """Start the actions `event` maps to, in order; their outcomes hold their replies
        (those after a failed action are cancelled; see `run`)."""
        outcome = self.run(event)
        return [] if isinstance(outcome, str) else outcome

    def run(self, event: CommandEvent) -> list[ActionOutcome] | str:
        """As `handle`, but when no action runs, the reason why (also logged). The outcomes
        follow the list's order, each naming its action; those after a failed action are
        cancelled (not run). A first action that handed the command to the `do:` list settles
        as HandedOver (see `as_run`)."""
        chosen = self.choose(event)
        if isinstance(chosen, str):
            return chosen
        calls, otherwise = chosen
        if self.accepted:
            self.accepted(event)
        outcomes = [ActionOutcome(call) for call in calls]
        self._run_from(0, outcomes, event, otherwise)
        return outcomes

    def _run_from(
        self,
        index: int,
        outcomes: list[ActionOutcome],
        event: CommandEvent,
        otherwise: tuple[ActionCall, ...] = (),
    ) -> None:
        """Run the action of `outcomes[index]`, then (once it succeeded) the next, settling
        `outcomes` in turn. The first action's skill gets focus when it succeeds, unless the
        action itself held or released focus. When the first action finds nothing to do,
        `otherwise` runs instead (see `_instead`)."""
        call = outcomes[index].call
        version = self.focus.version(call.skill)

        def finished(done: Future) -> None:
            error = done.exception()
            if index == 0 and otherwise and isinstance(error, NothingToDo):
                self._instead(error, otherwise, outcomes, event)
                return
            if error is not None:
                _not_run(outcomes[index + 1 :])
                outcomes[index].set_exception(error)
                return
            if index == 0:
                self.focus.give(call.skill, since=version)
            outcomes[index].set_result(done.result())
            if index + 1 < len(outcomes):
                self._run_from(index + 1, outcomes, event)

        say_nothing_to_do = not (index == 0 and otherwise)  # else what runs instead answers
        future = self.host.call(call.skill, call.action, event, call.params, say_nothing_to_do)
        future.add_done_callback(finished)

    def _instead(
        self,
        why: NothingToDo,
        otherwise: tuple[ActionCall, ...],
        outcomes: list[ActionOutcome],
        event: CommandEvent,
    ) -> None:
        """Run `otherwise` (the command's `do:` list) in place of a `when:` list whose first
        action (that of `outcomes[0]`) found nothing to do, `why`: the first outcome settles,
        once `otherwise` has, as HandedOver with its outcomes; the rest as not run."""
        log.info(
            "%s found nothing to do (%s) -> %s",
            outcomes[0].call,
            why,
            ", ".join(map(str, otherwise)),
        )
        _not_run(outcomes[1:])
        replaced = [ActionOutcome(call) for call in otherwise]

        def settle(_: Future) -> None:
            if not outcomes[0].done() and all(future.done() for future in replaced):
                outcomes[0].set_result(HandedOver(replaced))

        for future in replaced:
            future.add_done_callback(settle)
        self._run_from(0, replaced, event)
