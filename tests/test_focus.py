"""Focus: the skill given focus last, while its time lasts; a holding skill under it."""

import math

from manual_clock import Clock

from assistant.focus import Focus


def test_a_skill_holding_focus_has_it_again_once_the_skill_used_after_it_is_done():
    clock = Clock()
    focus = Focus(30, clock)
    focus.give("media", math.inf)  # playing
    focus.give("lights")
    assert focus.current() == "lights"
    clock.now += 30  # focus_seconds: it ends now
    assert focus.current() == "media"
    clock.now += 1
    assert focus.current() == "media"
    focus.give("timers", 60)  # ringing
    focus.release("timers")  # silenced
    assert focus.current() == "media"
    focus.release("media")  # paused
    assert focus.current() is None


def test_giving_focus_for_a_while_does_not_shorten_a_hold():
    clock = Clock()
    focus = Focus(30, clock)
    focus.give("media", math.inf)
    focus.give("media")
    clock.now += 3600
    assert focus.current() == "media"


def test_focus_is_given_since_a_version_only_if_the_skill_did_not_change_it():
    focus = Focus(30)
    before = focus.version("media")
    focus.release("media")  # the skill's own action gave focus up
    focus.give("media", since=before)
    assert focus.current() is None
    focus.give("media", since=focus.version("media"))
    assert focus.current() == "media"
