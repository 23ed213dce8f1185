"""The examples of docs/writing-skills.md run as the page says, and the configuration snippets of
the README and docs/*.md pass `assistant config check`, so that none of them rots unseen.

An HTML comment on the line before a fenced block (invisible on GitHub) says what the block is:

    <!-- example-file: PATH -->       (part of) the file PATH of the plugin package the page
                                      builds; the blocks naming one PATH are joined in page order
    <!-- example-excerpt: PATH -->    lines of that package's PATH, as they are there
    <!-- example-method -->           a method shown alone: a skill made of it must load
    <!-- example-output: COMMAND -->  part of what COMMAND prints with the package installed
    <!-- example-config -->           a configuration file that `assistant config check` accepts
                                      with the package installed
    <!-- example-not-run: WHY -->     not run, for the reason given

Every python, toml and yaml block of the pages carries one, so a new example is checked too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Recorder

import assistant.plugin
from assistant.discovery import declaration_problem
from assistant.plugin import Skill, SkillError
from assistant.plugin_testing import SkillUnderTest

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "writing-skills.md"
PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
EXAMPLE = REPO / "examples" / "greeter-skill"
KINDS = {"file", "excerpt", "method", "output", "config", "not-run"}
CHECKED_LANGUAGES = {"python", "toml", "yaml"}
BLOCK = re.compile(
    r"^(?P<indent> *)(?:<!-- example-(?P<kind>[a-z-]+)(?::\s*(?P<arg>[^>]*?))? -->\n(?P=indent))?"
    r"```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)


@dataclass(frozen=True)
class Block:
    where: str  # file:line of the opening fence
    kind: str | None
    arg: str
    lang: str
    text: str


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of `page`, each with its marker (kind None without one), dedented."""
    doc = page.read_text()
    found = []
    for match in BLOCK.finditer(doc):
        line = doc.count("\n", 0, match.start("lang")) + 1
        where = f"{page.relative_to(REPO)}:{line}"
        text = textwrap.dedent(match["body"])
        found.append(Block(where, match["kind"], match["arg"] or "", match["lang"], text))
    return found


def of_kind(kind: str, pages: tuple[Path, ...] = (PAGE,)) -> list[Block]:
    """The blocks of `pages` marked `kind`, in page order."""
    return [block for page in pages for block in blocks(page) if block.kind == kind]


def test_every_example_block_says_what_it_is() -> None:
    unmarked = [
        f"{block.where}: a {block.lang} block without a marker; valid: "
        + ", ".join(f"<!-- example-{kind} -->" for kind in sorted(KINDS))
        for page in PAGES
        for block in blocks(page)
        if block.lang in CHECKED_LANGUAGES and block.kind not in KINDS
    ]
    assert not unmarked, "\n".join(unmarked)


@pytest.fixture(scope="module")
def page_package(tmp_path_factory) -> tuple[Path, Path]:
    """The package the page's `example-file` blocks make, and the folder pip installed it in
    (`pip install --no-deps --target DIR`, as the page says)."""
    package = tmp_path_factory.mktemp("page") / "package"
    assert of_kind("file"), f"{PAGE.relative_to(REPO)} marks no block <!-- example-file: PATH -->"
    for block in of_kind("file"):
        path = package / block.arg
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as joined:
            joined.write(block.text)
    site = package.parent / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(site), str(package)], check=True, capture_output=True)
    return package, site


def test_the_page_shows_the_example_plugin_word_for_word(page_package) -> None:
    package, _ = page_package
    for name in ("pyproject.toml", "assistant_greeter/__init__.py"):
        assert (package / name).read_text() == (EXAMPLE / name).read_text(), name
    for block in of_kind("excerpt"):
        lines = (package / block.arg).read_text().splitlines(keepends=True)
        size = block.text.count("\n")
        runs = ("".join(lines[start : start + size]) for start in range(len(lines)))
        assert block.text in map(textwrap.dedent, runs), f"{block.where}: not in {block.arg}"


def test_the_installed_plugin_is_listed_and_the_pages_configurations_are_accepted(
    page_package, tmp_path
) -> None:
    """`assistant skills` and `config check`, run at once (each is a process of its own)."""
    _, site = page_package
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    commands = {block.where: block.arg.split()[1:] for block in of_kind("output")}
    for number, block in enumerate(of_kind("config", PAGES)):
        config = tmp_path / f"config-{number}.yaml"
        config.write_text(block.text)
        config.chmod(0o600)  # as the warning about a password in it says
        commands[block.where] = ["config", "check", str(config)]
    running = {
        where: subprocess.Popen(
            [sys.executable, "-m", "assistant", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for where, args in commands.items()
    }
    answers = {
        where: (process.communicate(timeout=60), process.returncode)
        for where, process in running.items()
    }
    for block in of_kind("output"):
        (output, errors), _ = answers[block.where]
        assert block.text in output, f"{block.where}: not in the output of {block.arg}\n{output}"
    for block in of_kind("config", PAGES):
        (output, errors), status = answers[block.where]
        assert status == 0 and ": OK (" in output, f"{block.where}: {errors}"


def test_the_pages_tests_pass_with_pytest_in_the_package_folder(page_package) -> None:
    package, _ = page_package
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tests = sum(
        block.text.count("\ndef test_") for block in of_kind("file") if "tests/" in block.arg
    )
    assert ran.returncode == 0 and f"{tests} passed" in ran.stdout, ran.stdout + ran.stderr


@pytest.mark.parametrize("block", of_kind("method"), ids=lambda block: block.where)
def test_a_method_shown_alone_makes_a_skill_that_loads(block: Block) -> None:
    source = "class Shown(Skill):\n    name = 'shown'\n\n" + textwrap.indent(block.text, "    ")
    names = {**vars(assistant.plugin)}
    exec(compile(source, block.where, "exec"), names)  # the page's own code
    assert issubclass(names["Shown"], Skill) and names["Shown"].actions(), block.where
    assert declaration_problem(names["Shown"]) is None, block.where


def test_the_mqtt_example_publishes_to_a_real_broker(page_package, tmp_path) -> None:
    package, _ = page_package
    blinds_file = package / "assistant_greeter" / "blinds.py"
    spec = importlib.util.spec_from_file_location("page_blinds", blinds_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with Mosquitto(tmp_path / "broker") as broker:
        recorder = Recorder(broker, "home/#")
        try:
            settings = {"host": "127.0.0.1", "port": broker.port}
            with SkillUnderTest(module.BlindsSkill, settings, tmp_path) as blinds:
                assert blinds.do("open_blinds", "up") == "Blinds open"
                assert recorder.wait_for(1) == [("home/blinds/set", "OPEN")]
        finally:
            recorder.close()
    with SkillUnderTest(module.BlindsSkill, settings, tmp_path) as blinds:  # the broker gone
        with pytest.raises(
            SkillError, match=f"cannot reach the MQTT broker at 127.0.0.1:{broker.port}"
        ):
            blinds.do("open_blinds", "up")
        assert blinds.replies == ["I cannot reach the blinds"]
