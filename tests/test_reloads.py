"""What a reload says it changed: a top-level limit once, not once more for every command that
follows it."""

import textwrap

from runtime_skills import INSTALLED

from assistant.config import load_config
from assistant.reloads import Reload, changes

COMMANDS = """
commands:
  on: recorder.dim
  off: {do: recorder.dim, cooldown: 5}
  up: {do: recorder.dim, min_score: 0.5}
"""


def loaded(tmp_path, name, top="", commands=COMMANDS):
    path = tmp_path / name
    path.write_text(textwrap.dedent(top) + textwrap.dedent(commands))
    return load_config(path, INSTALLED)


def test_a_changed_top_level_limit_is_said_once_not_for_each_command_that_follows_it(tmp_path):
    before = loaded(tmp_path, "before.yaml", "cooldown: 1\nmin_score: 0.2\n")
    after = loaded(tmp_path, "after.yaml", "cooldown: 2\nmin_score: 0.3\n")
    assert changes(before, after, ()) == ["min_score 0.2 -> 0.3", "cooldown 1.0 -> 2.0"]


def test_a_command_whose_own_limit_or_actions_change_is_said_to_have_changed(tmp_path):
    before = loaded(tmp_path, "before.yaml", "cooldown: 1\n")
    own = COMMANDS.replace("cooldown: 5", "cooldown: 6").replace("on: recorder.dim", "on: []")
    after = loaded(tmp_path, "after.yaml", "cooldown: 1\n", own)
    assert changes(before, after, ()) == ["commands off changed, on changed"]


def test_a_command_that_keeps_its_limit_as_the_top_level_one_changes_is_unchanged(tmp_path):
    """`on` writes the cooldown it followed (1): the same for it, though the top level's is 2.
    `off` follows the new top level (5), the value it wrote before: the same too."""
    before = loaded(tmp_path, "before.yaml", "cooldown: 1\n")
    own = COMMANDS.replace("on: recorder.dim", "on: {do: recorder.dim, cooldown: 1}")
    after = loaded(tmp_path, "after.yaml", "cooldown: 2\n", own)
    assert changes(before, after, ()) == ["cooldown 1.0 -> 2.0"]
    follows = COMMANDS.replace("{do: recorder.dim, cooldown: 5}", "recorder.dim")
    later = loaded(tmp_path, "later.yaml", "cooldown: 5\n", follows)
    assert changes(before, later, ()) == ["cooldown 1.0 -> 5.0"]


def test_a_command_that_follows_a_changed_top_level_limit_and_leaves_it_changes(tmp_path):
    """`on` followed the cooldown of 1 and now writes 3: its cooldown changed, unlike the top
    level's."""
    before = loaded(tmp_path, "before.yaml", "cooldown: 1\n")
    own = COMMANDS.replace("on: recorder.dim", "on: {do: recorder.dim, cooldown: 3}")
    after = loaded(tmp_path, "after.yaml", "cooldown: 1\n", own)
    assert changes(before, after, ()) == ["commands on changed"]


def test_a_reload_answer_is_one_line_whatever_its_problems_hold(tmp_path):
    """The control socket answers in one line, its parts apart by tabs: a problem with a line
    break or a tab of its own (a plugin's message) does not cut the answer short."""
    problem = f"{tmp_path}/config.yaml:3: the vault says:\n\tno such key"
    answer = Reload(0.0, tmp_path / "config.yaml", problems=(problem,)).answer()
    assert "\n" not in answer
    assert answer.split("\t")[1] == f"{tmp_path}/config.yaml:3: the vault says: no such key"
