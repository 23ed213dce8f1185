"""Discovery checks what each installed skill declares: a slip in one plugin is reported as
broken, with what to fix, and every other skill still loads."""

import gc
import os
import sys
import textwrap
import types
from typing import ClassVar

import pytest

from assistant import cli, discovery
from assistant.discovery import code_stamp, declaration_problem, discover_skills
from assistant.plugin import Setting, Skill, action


def install(tmp_path, monkeypatch, package: str, module: str, entries: dict, source: str):
    """A package installed for the entry-point machinery only: its metadata and one module."""
    dist = tmp_path / f"{package.replace('-', '_')}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {module}:{target}\n" for name, target in entries.items())
    (dist / "entry_points.txt").write_text("[assistant.skills]\n" + lines)
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


SLIPS = """
    from pathlib import Path
    from assistant.plugin import Setting, Skill, action

    class Good(Skill):
        name = "good"
        @action
        def hi(self, event):
            return "hi"

    class NoComma(Skill):
        name = "nocomma"
        settings = (Setting("greeting", str, "hi", "greeting"))

    class ParamsNoComma(Skill):
        name = "paramsnocomma"
        @action(params=(Setting("who", str, "you")))
        def hi(self, event, who):
            pass

    class Generic(Skill):
        name = "generic"
        settings = (Setting("names", list[str], []),)

    class PathType(Skill):
        name = "pathtype"
        settings = (Setting("path", Path, Path("/tmp")),)

    class BadDefault(Skill):
        name = "baddefault"
        settings = (Setting("count", int, "ten"),)

    class BadChoice(Skill):
        name = "badchoice"
        settings = (Setting("style", str, "long", choices=("short", "counted")),)

    class Mismatch(Skill):
        name = "mismatch"
        @action(params=(Setting("level", int, 1),))
        def bright(self, event):
            pass

    class NoEvent(Skill):
        name = "noevent"
        @action()
        def hi(self):
            pass

    class Stopwatch(Skill):
        name = "stopwatch"
        @action(help="start the stopwatch")
        def start(self, event):
            pass

    class Async(Skill):
        name = "async"
        @action()
        async def hi(self, event):
            return "hi"

    class BoundText(Skill):
        name = "boundtext"
        settings = (Setting("x", str, "a", "x", minimum=0),)

    class Twice(Skill):
        name = "twice"
        @action(params=(Setting("who", str, "you"), Setting("who", int, 1)))
        def hi(self, event, who):
            pass

    class NumberValues(Skill):
        name = "numbervalues"
        settings = (Setting("labels", dict, {"a": 5}, "labels", values=str),)

    class NumberText(Skill):
        name = "numbertext"
        settings = (Setting("code", str, 7, "code"),)
"""

EXPECTED = {
    "nocomma": "settings must be a tuple of Setting (missing trailing comma?)",
    "paramsnocomma": "action hi (method hi): params must be a tuple of Setting (missing trailing",
    "generic": "settings: 'names' has type list[str]; use one of str, int, float, bool, list, dict",
    "pathtype": "settings: 'path' has type <class 'pathlib.Path'>; use one of str, int",
    "baddefault": "settings: the default does not fit: count must be a whole number, not 'ten'",
    "badchoice": "settings: the default does not fit: style is 'long'; valid: short, counted",
    "mismatch": "action bright (method bright) must accept (event, level) after self:",
    "noevent": "action hi (method hi) must accept (event) after self: too many positional",
    "stopwatch": "replaces Skill.start; name the method otherwise and keep the action's name "
    "with @action(name='start')",
    "async": "action hi (method hi) is async; actions are plain functions",
    "boundtext": "BoundText: settings: 'x' is str with minimum= or maximum=; bounds are for int "
    "and float settings",
    "twice": "Twice: action hi (method hi): params: 'who' is declared twice; give each setting "
    "its own name",
    "numbervalues": "NumberValues: settings: the default of 'labels' does not fit its type and "
    "values=str: write {'a': '5'}, not {'a': 5}",
    "numbertext": "NumberText: settings: the default of 'code' does not fit its type: write '7', "
    "not 7",
}


def test_declaration_slips_are_reported_as_broken_and_the_other_skills_load(
    tmp_path, monkeypatch, capsys
):
    entries = {name: name.title() for name in ["good", *EXPECTED]}
    entries |= {"nocomma": "NoComma", "paramsnocomma": "ParamsNoComma", "pathtype": "PathType"}
    entries |= {"baddefault": "BadDefault", "badchoice": "BadChoice", "noevent": "NoEvent"}
    entries |= {"boundtext": "BoundText", "numbervalues": "NumberValues"}
    entries |= {"numbertext": "NumberText"}
    install(tmp_path, monkeypatch, "slips", "slip_skills", entries, SLIPS)
    installed, broken = discover_skills()
    assert installed["good"].__name__ == "Good"
    assert {"lights", "media", "replies", "timers"} <= set(installed)
    errors = {b.name: b.error for b in broken}
    assert set(errors) == set(EXPECTED)
    for name, message in EXPECTED.items():
        assert errors[name].startswith("TypeError: "), errors[name]
        assert message in errors[name], errors[name]

    assert cli.main(["skills"]) == 1  # lists the good ones, then the broken ones
    out = capsys.readouterr().out
    assert "\ngood\n  action hi\n" in out  # no description, no help: the names alone
    assert "BROKEN nocomma (slip_skills:NoComma): TypeError: NoComma: settings must" in out

    config = tmp_path / "config.yaml"
    config.write_text("commands:\n  on: nocomma.hi\n")
    assert cli.main(["config", "check", str(config)]) == 2
    assert (
        f"{config}:2: skill 'nocomma' is installed but cannot be loaded: TypeError: NoComma: "
        "settings must be a tuple of Setting (missing trailing comma?)"
    ) in capsys.readouterr().err


def test_config_check_gives_a_broken_plugins_reason_once_and_points_to_it_elsewhere(
    tmp_path, monkeypatch, capsys
):
    install(tmp_path, monkeypatch, "slips", "slip_skills", {"nocomma": "NoComma"}, SLIPS)
    config = tmp_path / "config.yaml"
    config.write_text(
        "skills:\n"
        "  nocomma: {greeting: hey}\n"
        "commands:\n"
        "  on: nocomma.hi\n"
        "  off: [nocomma.hi, nocomma.bye]\n"
        "  up:\n"
        "    do: lights.brighter\n"
        "    when:\n"
        "      nocomma: nocomma.hi\n"
    )
    assert cli.main(["config", "check", str(config)]) == 2
    cannot = "skill 'nocomma' is installed but cannot be loaded"
    assert capsys.readouterr().err.splitlines() == [
        f"{config}:2: {cannot}: TypeError: NoComma: settings must be a tuple of Setting "
        "(missing trailing comma?)",
        f"{config}:4: {cannot} (line 2 says why)",
        f"{config}:5: {cannot} (line 2 says why)",
        f"{config}:9: {cannot} (line 2 says why)",
    ]


def test_a_bare_action_decorator_declares_the_action():
    class Bare(Skill):
        name = "bare"

        @action
        def ping(self, event):
            """answer with pong"""
            return "pong"

    assert Bare.actions()["ping"].help == "answer with pong"
    assert Bare.ping(None, None) == "pong"
    assert declaration_problem(Bare) is None


def test_an_actions_help_from_its_docstring_is_its_first_paragraph_on_one_line():
    """As `assistant skills` shows it: a first sentence wrapped over lines is not cut."""

    class Wrapped(Skill):
        name = "wrapped"

        @action
        def stop_all(self, event):
            """Silence ringing timers, or else cancel
            the one due first.

            Details for the reader of the code."""

    help = Wrapped.actions()["stop_all"].help
    assert help == "Silence ringing timers, or else cancel the one due first."


def test_an_actions_help_ends_at_a_blank_line_that_holds_indentation():
    """Editors may leave a docstring's blank line indented like the lines around it."""

    def stop_all(self, event):
        pass

    stop_all.__doc__ = "Silence ringing timers.\n        \n        Details for the reader."

    class Indented(Skill):
        name = "indented"
        stop = action(stop_all)

    assert Indented.actions()["stop_all"].help == "Silence ringing timers."


def test_an_action_may_be_named_like_a_lifecycle_method_through_its_name():
    class Stopwatch(Skill):
        name = "stopwatch"

        @action(name="start")
        def start_watch(self, event):
            pass

        @action(params=(Setting("lap", int, 1), Setting("note", str, "")))
        def stop_(self, event, **params):
            pass

    assert set(Stopwatch.actions()) == {"start", "stop"}
    assert declaration_problem(Stopwatch) is None


NAME_CLAIMS = """
    from assistant.plugin import Skill

    class FakeLights(Skill):
        name = "lights"

    class One(Skill):
        name = "same"

    class Two(Skill):
        name = "same"
"""


def test_a_skill_name_declared_twice_is_reported_and_a_built_in_keeps_it(tmp_path, monkeypatch):
    entries = {"fakelights": "FakeLights", "one": "One", "two": "Two"}
    install(tmp_path, monkeypatch, "impostor-skills", "impostor", entries, NAME_CLAIMS)
    installed, broken = discover_skills()
    assert installed["lights"].__module__ == "skills.lights"
    assert "same" not in installed
    errors = {b.name: b.error for b in broken}
    assert errors == {
        "fakelights": "name conflict: skill name 'lights' is also declared by "
        "skills.lights:LightsSkill (desk-kws-assistant); the built-in skill is used",
        "one": "name conflict: skill name 'same' is also declared by impostor:Two "
        "(impostor-skills); neither is loaded",
        "two": "name conflict: skill name 'same' is also declared by impostor:One "
        "(impostor-skills); neither is loaded",
    }


@pytest.mark.parametrize("name", ["name", "settings", "actions", "context", "stop", "requires_api"])
def test_every_skill_attribute_is_reserved(name):
    source = f"def {name}(self, event):\n    pass\n"
    namespace: dict = {}
    exec(source, namespace)
    skill = type("Shadow", (Skill,), {name: action()(namespace[name])})
    assert f"replaces Skill.{name}" in (declaration_problem(skill) or "")


def test_a_reload_finds_a_skill_installed_since_the_start(tmp_path, monkeypatch):
    from runtime_skills import INSTALLED

    from assistant.config import load_config
    from assistant.daemon import Assistant
    from assistant.plugin import CommandEvent

    config = tmp_path / "config.yaml"
    config.write_text("commands:\n  off: recorder.dim\n")
    replies = []
    assistant = Assistant(load_config(config, INSTALLED), INSTALLED, tmp_path, replies.append)
    assistant.start()
    try:
        install(tmp_path, monkeypatch, "late-skill", "late_skill", {"late": "Late"}, LATE)
        config.write_text("commands:\n  off: recorder.dim\n  on: late.hello\n")
        assert assistant.reload(config).done
        [future] = assistant.dispatcher.handle(CommandEvent("on", 1.0, "test", "desk", 1.0))
        assert future.result(5) == "hello from a late skill"
    finally:
        assistant.stop()


LATE = """
    from assistant.plugin import Skill, action

    class Late(Skill):
        name = "late"

        @action(help="say hello")
        def hello(self, event):
            return "hello from a late skill"
"""


NEEDS = {"Today": (1, 0), "Newer": (1, 99), "NextMajor": (2, 0), "Older": (0, 3), "Text": "1.0"}
"""Skills by the plugin API they need."""


def test_a_skill_that_needs_another_plugin_api_is_not_loaded_and_says_what_to_do(
    tmp_path, monkeypatch, capsys
):
    from assistant.plugin import API_VERSION
    from assistant.version import version_text

    assert API_VERSION == (1, 4)
    source = "from assistant.plugin import Skill\n" + "".join(
        f"class {name}(Skill):\n    name = {name.lower()!r}\n    requires_api = {needed!r}\n"
        for name, needed in NEEDS.items()
    )
    entries = {name.lower(): name for name in NEEDS}
    install(tmp_path, monkeypatch, "needs", "needs_skills", entries, source)
    installed, broken = discover_skills()
    assert installed["today"].__name__ == "Today"
    offered = f"this is plugin API 1.4 (assistant {version_text()})"
    assert {b.name: b.error for b in broken} == {
        "newer": f"PluginApiError: Newer needs plugin API 1.99; {offered}: upgrade the assistant",
        "nextmajor": f"PluginApiError: NextMajor needs plugin API 2.0; {offered}: upgrade the "
        "assistant",
        "older": f"PluginApiError: Older needs plugin API 0.3; {offered}: update the plugin to "
        "this API",
        "text": "PluginApiError: Text requires_api must be (major, minor) such as (1, 4), not "
        "'1.0'",
    }
    assert cli.main(["skills"]) == 1
    assert capsys.readouterr().out.startswith(f"plugin API 1.4 (assistant {version_text()})\n")


IMPORT_SLIPS = {
    "undefined": ("from assistant.plugin import Skill\nLEVEL = degrees\n", 2, "NameError"),
    "missing": ("import os\nimport coffeelib_not_installed\n", 2, "ModuleNotFoundError"),
    "unclosed": ("x = 1\ny = (\n", 2, "SyntaxError"),
    "newname": ("from assistant.plugin import Skill, NoSuchThing\n", 1, "ImportError"),
}


@pytest.mark.parametrize("module", sorted(IMPORT_SLIPS))
def test_a_plugin_that_fails_to_import_is_reported_with_its_file_and_line(
    tmp_path, monkeypatch, module
):
    source, line, kind = IMPORT_SLIPS[module]
    install(tmp_path, monkeypatch, module, module, {module: "Skill"}, source)
    _, broken = discover_skills()
    [error] = [b.error for b in broken if b.name == module]
    assert error.startswith(f"{kind}: "), error
    assert f" (at {tmp_path / module}.py:{line})" in error, error
    newer = "; this is plugin API 1.4 (assistant "
    assert (newer in error) == (module == "newname"), error


def test_a_reload_says_that_changed_skill_code_runs_only_after_a_restart(
    tmp_path, monkeypatch, caplog
):
    from assistant.config import load_config
    from assistant.daemon import RELOAD_FAILED, RESTART_NEEDED, Assistant
    from assistant.plugin import CommandEvent

    install(tmp_path, monkeypatch, "late-skill", "late_skill", {"late": "Late"}, LATE)
    installed, _ = discover_skills()
    config = tmp_path / "config.yaml"
    config.write_text("commands:\n  go: late.hello\n")
    said: list[str] = []  # what the speaker is given (`speech.notices`)
    assistant = Assistant(load_config(config, installed), installed, tmp_path, said.append)
    assistant.start()
    try:
        (tmp_path / "late_skill.py").write_text(textwrap.dedent(LATE))  # the same code
        assert assistant.reload(config).done
        assert "changed since it was loaded" not in caplog.text
        assert said == []

        edited = textwrap.dedent(LATE.replace("late skill", "new skill"))
        edited += "\n    @action\n    def bye(self, event):\n        return 'bye'\n"
        (tmp_path / "late_skill.py").write_text(edited)
        assert assistant.reload(config).done
        warning = (
            f"the code of skill late changed since it was loaded ({tmp_path}/late_skill.py); "
            "a reload keeps running the code it has, so restart the assistant to run the new code"
        )
        assert warning in caplog.text
        assert said == [RESTART_NEEDED]
        [future] = assistant.dispatcher.handle(CommandEvent("go", 1.0, "test", "desk", 1.0))
        assert future.result(5) == "hello from a late skill"

        caplog.clear()
        config.write_text("commands:\n  go: late.bye\n")
        assert not assistant.reload(config).done
        assert warning in caplog.text
        assert caplog.text.index(warning) < caplog.text.index("has no action 'bye'")
        assert said == [RESTART_NEEDED, "hello from a late skill", RELOAD_FAILED]  # not both
    finally:
        assistant.stop()


MARKS_ITS_IMPORT = """
    from pathlib import Path
    from assistant.plugin import Skill, action

    Path(__file__).with_suffix(".imported").touch()

    class Planted(Skill):
        name = "planted"

        @action
        def hello(self, event):
            return "hello"
"""


@pytest.mark.parametrize("open_to", ["everyone", "another user"])
def test_a_plugin_another_user_may_change_is_never_imported(tmp_path, monkeypatch, open_to):
    """A PYTHONPATH folder anyone may write in (in /tmp, say), or a module file another user
    owns: their code would run as the user running the assistant."""
    install(
        tmp_path, monkeypatch, "planted", "planted_skill", {"planted": "Planted"}, MARKS_ITS_IMPORT
    )
    module = tmp_path / "planted_skill.py"
    if open_to == "everyone":
        tmp_path.chmod(0o777)
        changed_by = (
            f"another user may change {tmp_path} (owner uid {os.getuid()}, mode drwxrwxrwx)"
        )
    elif os.geteuid() == 0:
        os.chown(module, 65534, 65534)
        changed_by = f"another user may change {module} (owner uid 65534, mode -rw-r--r--)"
    else:
        pytest.skip("giving a file to another user needs root")
    found, broken = discover_skills()
    assert "planted" not in found
    [plugin] = [p for p in broken if p.name == "planted"]
    assert plugin.error.startswith(changed_by)
    assert not module.with_suffix(".imported").exists()
    tmp_path.chmod(0o755)
    os.chown(module, os.getuid(), os.getgid())
    assert "planted" in discover_skills()[0]
    assert module.with_suffix(".imported").exists()


class ImportingGarbage:
    """Cyclic garbage whose finalizer does what an import in another thread does (a module into
    sys.modules), and leaves such garbage again, while `armed`."""

    armed = True
    imported: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self) -> None:
        if ImportingGarbage.armed:
            name = f"imported_meanwhile_{len(self.imported)}"
            sys.modules[name] = types.ModuleType(name)
            self.imported.append(name)
            ImportingGarbage()


def test_the_code_stamp_is_taken_while_other_threads_import():
    """The daemon stamps its skills' code as it starts, while the threads of what started before
    import (a hub's, when a test starts a satellite beside it). Listing sys.modules' items makes
    objects, so runs the garbage collector, whose finalizers let other threads run: an import
    there failed the start with 'dictionary changed size during iteration'. Here the collector
    runs at each object made, and each collection imports."""
    threshold = gc.get_threshold()
    ImportingGarbage()
    gc.set_threshold(1)
    try:
        stamp = code_stamp("assistant")
    finally:
        ImportingGarbage.armed = False
        gc.set_threshold(*threshold)
        for name in ImportingGarbage.imported:
            del sys.modules[name]
    assert ImportingGarbage.imported  # imports came while it ran
    assert discovery.__file__ in stamp
