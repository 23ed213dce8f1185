"""The systemd user unit."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from assistant_command import assistant
from waiting import wait_until

from assistant import service
from assistant.config import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parent.parent

needs_systemd = pytest.mark.skipif(
    not shutil.which("systemd-analyze"), reason="systemd is not installed"
)


def test_unit_runs_the_assistant_reloads_on_hup_and_restarts_on_failure():
    text = service.unit_text(executable="/usr/bin/assistant", config="/etc/a.yaml")
    assert "ExecStart=/usr/bin/assistant run --config /etc/a.yaml\n" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID\n" in text
    # Journal lines tagged `assistant`, whichever interpreter runs it (`python -m assistant`).
    assert "SyslogIdentifier=assistant\n" in text
    assert "Restart=on-failure\n" in text
    statuses = " ".join(
        map(
            str,
            (
                service.CONFIG_ERROR_STATUS,
                service.ALREADY_RUNNING_STATUS,
                service.UNSAFE_RUNTIME_STATUS,
            ),
        )
    )
    assert f"RestartPreventExitStatus={statuses}\n" in text
    assert "WantedBy=default.target\n" in text
    assert "After=sound.target\n" in text  # network-online.target: not in a user manager


def test_a_relative_config_path_is_made_absolute_and_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = service.unit_text(executable="/usr/bin/assistant", config="my config.yaml")
    assert f'ExecStart=/usr/bin/assistant run --config "{tmp_path}/my config.yaml"\n' in text
    assert service.systemd_quoted('50% "off"') == '"50%% \\"off\\""'
    assert service.systemd_quoted("$HOME") == "$$HOME"


@needs_systemd
def test_unit_file_passes_systemd_analyze_verify(tmp_path):
    executable = tmp_path / "assistant"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    unit = tmp_path / service.UNIT_NAME
    unit.write_text(service.unit_text(executable=str(executable), config="a b/config.yaml"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    unit.write_text(unit.read_text().replace("ExecStart=", "ExecStrat="))
    broken = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True)
    assert broken.returncode != 0


@needs_systemd
def test_install_status_uninstall_without_a_user_manager(tmp_path, monkeypatch, unit):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    with pytest.raises(RuntimeError, match="not installed"):
        service.status()
    with pytest.raises(RuntimeError, match="nothing was enabled") as refused:
        service.install()
    assert unit.exists()
    assert "systemctl --user enable --now assistant.service" in str(refused.value)
    with pytest.raises(RuntimeError, match=f"kept {unit}: systemctl --user disable --now"):
        service.uninstall()
    assert unit.exists()
    unit.unlink()
    assert service.uninstall() == f"nothing to remove: {unit} does not exist"


@pytest.fixture
def no_user_manager(tmp_path):
    """The environment of `assistant` run where no systemd user manager answers."""
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus",
    }
    environment.pop("XDG_RUNTIME_DIR", None)
    return environment


@needs_systemd
@pytest.mark.parametrize("runtime", [None, "run"])
def test_each_service_command_says_why_no_user_manager_answers_and_what_to_do(
    tmp_path, no_user_manager, unit, runtime
):
    """Where systemctl finds no user manager (su, sudo, a container, ssh after the last
    session ended without lingering), each subcommand says so, why and what to do, alike:
    not systemctl's bare "Failed to connect to bus"."""
    environment = dict(no_user_manager)
    if runtime:
        environment["XDG_RUNTIME_DIR"] = str(tmp_path / runtime)
        why = f"none runs for you at XDG_RUNTIME_DIR={tmp_path / runtime} "
        fix = '`sudo loginctl enable-linger "$USER"`, which starts yours now and at each boot'
    else:
        why = "XDG_RUNTIME_DIR is not set, as in a shell started by su, sudo, cron or a container"
        fix = f"or with XDG_RUNTIME_DIR=/run/user/{os.getuid()} if your user manager runs"
    installed = assistant(environment, "--config", str(DEFAULT_CONFIG), "service", "install")
    shown = assistant(environment, "service", "status")
    removed = assistant(environment, "service", "uninstall")
    starts = {
        installed: f"wrote {unit}, but nothing was enabled or started: ",
        shown: f"cannot tell whether {service.UNIT_NAME} runs: ",
        removed: f"kept {unit}: systemctl --user disable --now {service.UNIT_NAME} failed: ",
    }
    for result, start in starts.items():
        assert result.returncode == 1
        assert result.stderr.startswith(f"{start}no systemd user manager answers (Failed to ")
        assert why in result.stderr and fix in result.stderr, result.stderr
    assert "`systemctl --user enable --now assistant.service`" in installed.stderr
    assert shown.stderr.endswith("; then run `assistant service status` again\n")
    assert "then run `assistant service uninstall` again" in removed.stderr
    assert unit.exists()


@pytest.fixture
def unit(tmp_path, monkeypatch) -> Path:
    """The unit's file for `assistant` run with `no_user_manager`'s XDG_CONFIG_HOME."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return service.unit_path()


def test_the_unit_is_where_the_user_manager_looks_for_it(unit, tmp_path):
    assert unit == tmp_path / "config" / "systemd" / "user" / "assistant.service"


def test_a_config_error_ends_run_with_the_status_the_unit_does_not_restart(
    tmp_path, no_user_manager
):
    broken = tmp_path / "broken.yaml"
    broken.write_text("commands:\n  up: nosuch.action\n")
    result = assistant(no_user_manager, "--config", str(broken), "run")
    assert result.returncode == service.CONFIG_ERROR_STATUS, result.stderr
    assert "nothing was started" in result.stderr


def test_install_refuses_a_config_with_problems(tmp_path, no_user_manager, unit):
    missing = tmp_path / "missing.yaml"
    result = assistant(no_user_manager, "--config", str(missing), "service", "install")
    assert result.returncode == service.CONFIG_ERROR_STATUS
    assert "nothing was installed" in result.stderr and str(missing) in result.stderr
    assert not unit.exists()


def test_install_print_shows_the_unit_and_installs_nothing(tmp_path, no_user_manager):
    config = str(DEFAULT_CONFIG)
    result = assistant(no_user_manager, "--config", config, "service", "install", "--print")
    assert result.returncode == 0, result.stderr
    assert result.stdout == service.unit_text(config=config)
    assert not (tmp_path / "config" / "systemd").exists()


def test_the_units_python_command_never_imports_from_its_working_directory(
    tmp_path, no_user_manager
):
    """Installed by `python -m assistant`, the unit runs `python -m assistant` on the same
    interpreter, not another installation's `assistant` found on PATH; systemd starts it in
    the home folder: a stray assistant.py there is not what runs."""
    config = tmp_path / "config.yaml"
    config.write_text(DEFAULT_CONFIG.read_text())
    other = tmp_path / "other-installation"
    other.mkdir()
    (other / "assistant").write_text("#!/bin/sh\nexit 1\n")
    (other / "assistant").chmod(0o755)
    no_script = {**no_user_manager, "PATH": f"{other}:/usr/bin:/bin"}
    printed = assistant(no_script, "--config", str(config), "service", "install", "--print")
    assert printed.returncode == 0, printed.stderr
    [command] = re.findall(r"^ExecStart=(.*)$", printed.stdout, re.M)
    assert shlex.split(command) == [*service.module_command(), "run", "--config", str(config)]
    home = tmp_path / "home"
    home.mkdir()
    (home / "assistant.py").write_text("raise SystemExit('the decoy in the home folder ran')\n")
    config.write_text("commands:\n  up: nosuch.action\n")  # so that `run` ends at once
    ran = _started_as_systemd_would(command, {**no_script, "PYTHONPATH": str(REPO)}, home)
    assert "decoy" not in ran.stderr
    assert ran.returncode == service.CONFIG_ERROR_STATUS, ran.stderr
    assert f"{config}:2: unknown skill 'nosuch'" in ran.stderr  # the assistant ran


def test_the_unit_runs_with_the_pythonpath_the_configuration_was_checked_with(
    tmp_path, no_user_manager, plugin_path
):
    """A plugin kept in a folder of its own is found through PYTHONPATH
    (docs/writing-skills.md): `install` checked the configuration with it, so the unit keeps it,
    whatever the user manager's environment holds."""
    config = tmp_path / "config.yaml"
    config.write_text("commands:\n  on: greeter.greet\n")
    with_plugin = {**no_user_manager, "PYTHONPATH": f"{plugin_path}{os.pathsep}{REPO}"}
    printed = assistant(with_plugin, "--config", str(config), "service", "install", "--print")
    assert printed.returncode == 0, printed.stderr
    [command] = re.findall(r"^ExecStart=(.*)$", printed.stdout, re.M)
    unit_environment = dict(
        assignment.split("=", 1)
        for line in re.findall(r"^Environment=(.*)$", printed.stdout, re.M)
        for assignment in shlex.split(line)
    )
    config.write_text("commands:\n  on: greeter.greet\n  up: nosuch.action\n")  # `run` ends
    home = tmp_path / "home"
    home.mkdir()
    manager = {
        "PATH": "/usr/bin:/bin",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    ran = _started_as_systemd_would(command, {**manager, **unit_environment}, home)
    assert ran.returncode == service.CONFIG_ERROR_STATUS, ran.stderr
    assert f"{config}:3: unknown skill 'nosuch'" in ran.stderr
    assert "'greeter'" not in ran.stderr  # the plugin was found


def _started_as_systemd_would(
    command: str, environment: dict, home: Path
) -> subprocess.CompletedProcess:
    """The unit's ExecStart= `command`, started in `home` with `environment`, as a user
    manager starts it."""
    return subprocess.run(
        shlex.split(command),
        cwd=home,
        env={**environment, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_systemd
def test_install_fails_when_the_unit_cannot_be_enabled(no_user_manager, unit):
    config = str(DEFAULT_CONFIG)
    result = assistant(no_user_manager, "--config", config, "service", "install")
    assert result.returncode == 1
    assert f"wrote {unit}" in result.stderr
    assert "systemctl --user enable --now assistant.service" in result.stderr
    assert unit.exists()


FAKE_SYSTEMCTL = """#!{python}
import json, os, sys, time

with open(os.environ["SYSTEMCTL_CALLS"], "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
verb = next(word for word in sys.argv[1:] if not word.startswith("--"))
if verb == os.environ.get("SYSTEMCTL_HANGS"):  # a user manager that does not answer
    time.sleep(600)
status, out, err = json.loads(os.environ["SYSTEMCTL_ANSWERS"]).get(verb, [0, "", ""])
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(status)
"""


@pytest.fixture
def systemctl(tmp_path, no_user_manager):
    """Stand-ins for a user manager and logind (neither can run here): a `systemctl` and a
    `loginctl` first on PATH that record their arguments and answer each verb as
    `answer(verb, status, stdout, stderr)` says (else 0, silently). Returns (environment,
    answer, calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("systemctl", "loginctl"):
        fake = bin_dir / program
        fake.write_text(FAKE_SYSTEMCTL.format(python=sys.executable))
        fake.chmod(0o755)
    calls = tmp_path / "systemctl-calls"
    answers = {}
    environment = {
        **no_user_manager,
        "PATH": f"{bin_dir}{os.pathsep}{no_user_manager['PATH']}",
        "SYSTEMCTL_CALLS": str(calls),
    }

    def answer(verb: str, status: int, stdout: str = "", stderr: str = "") -> None:
        answers[verb] = [status, stdout, stderr]
        environment["SYSTEMCTL_ANSWERS"] = json.dumps(answers)

    environment["SYSTEMCTL_ANSWERS"] = "{}"
    return environment, answer, lambda: calls.read_text().splitlines()


@pytest.mark.parametrize(("active", "said"), [(3, "started it"), (0, "restarted the running")])
def test_install_enables_and_restarts_so_a_running_service_takes_the_new_unit(
    systemctl, unit, active, said
):
    environment, answer, calls = systemctl
    answer("is-active", active)
    answer("show-user", 0, "yes\n")
    config = str(DEFAULT_CONFIG)
    result = assistant(environment, "--config", config, "service", "install")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"installed {unit} and {said}")
    assert "enable-linger" not in result.stdout  # lingering is on
    assert calls() == [
        "--user daemon-reload",
        "--user is-active --quiet assistant.service",
        "--user enable assistant.service",
        "--user restart assistant.service",
        f"show-user {os.getuid()} --property=Linger --value",
    ]
    assert f"run --config {config}\n" in unit.read_text()


@pytest.mark.parametrize(("linger", "told"), [("no", True), ("yes", False), (None, False)])
def test_install_says_when_the_service_would_stop_at_logout(tmp_path, systemctl, linger, told):
    """A user's manager, and so the service, stops when their last session ends unless
    lingering is on: a service meant to run for weeks, set up over ssh, would stop at logout."""
    environment, answer, _ = systemctl
    if linger is None:  # logind cannot tell (no user session, no logind)
        answer("show-user", 1, "", "Failed to get user: User ID 1000 is not logged in\n")
    else:
        answer("show-user", 0, f"{linger}\n")
    result = assistant(environment, "--config", str(DEFAULT_CONFIG), "service", "install")
    assert result.returncode == 0, result.stderr
    said = (
        "it runs while you are logged in and stops when you log out: to keep it running (and "
        'start it at boot), run `sudo loginctl enable-linger "$USER"`'
    )
    assert (said in result.stdout) is told


def test_install_run_again_without_config_keeps_the_units_config(tmp_path, systemctl, unit):
    """The upgrade step, `assistant service install` again, must not move the service to
    another configuration; a path systemd needs quoted comes back as it was."""
    environment, _, _ = systemctl
    config = tmp_path / "my 100% $config.yaml"
    shutil.copy(DEFAULT_CONFIG, config)
    assert assistant(environment, "--config", str(config), "service", "install").returncode == 0
    again = assistant(environment, "service", "install")
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith(f"keeping --config {config} of the installed unit")
    assert unit.read_text() == service.unit_text(config=str(config))
    other = assistant(environment, "--config", str(DEFAULT_CONFIG), "service", "install")
    assert (other.returncode, other.stderr) == (0, "")
    assert f"run --config {DEFAULT_CONFIG}\n" in unit.read_text()


def test_install_again_keeps_a_relative_config_of_an_earlier_versions_unit(
    tmp_path, systemctl, unit
):
    """Units of earlier versions kept --config as it was given, relative to the home folder
    the service runs in: `service install` after the upgrade, run from another folder (the
    clone just pulled), keeps that file, not one of the same name in its own folder."""
    environment, _, _ = systemctl
    home = tmp_path / "home"
    (home / ".config" / "assistant").mkdir(parents=True)
    shutil.copy(DEFAULT_CONFIG, home / ".config" / "assistant" / "config.yaml")
    unit.parent.mkdir(parents=True)
    unit.write_text(
        "[Service]\nExecStart=/usr/bin/assistant run --config .config/assistant/config.yaml\n"
    )
    upgraded = {**environment, "HOME": str(home), "PYTHONPATH": str(REPO)}
    again = assistant(upgraded, "service", "install", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    kept = home / ".config" / "assistant" / "config.yaml"
    assert again.stderr.startswith(f"keeping --config {kept} of the installed unit")
    assert f"run --config {kept}\n" in unit.read_text()


def test_status_passes_systemctls_output_and_exit_status_through(systemctl, unit):
    environment, answer, _ = systemctl
    not_installed = assistant(environment, "service", "status")
    assert not_installed.returncode == 1
    assert "not installed" in not_installed.stderr
    unit.parent.mkdir(parents=True)
    unit.write_text(service.unit_text())
    inactive = "○ assistant.service - Hands-free voice assistant\n     Active: inactive (dead)\n"
    answer("status", 3, inactive)
    stopped = assistant(environment, "service", "status")
    assert (stopped.returncode, stopped.stdout) == (3, inactive)
    failed = "Failed to read server status: Access denied\n"  # any other failure: as it is
    answer("status", 1, "", failed)
    denied = assistant(environment, "service", "status")
    assert (denied.returncode, denied.stderr) == (1, failed)
    # How systemd 254 and later say that no user manager answers
    newer = "Failed to connect to user scope bus via local transport: No medium found"
    answer("status", 1, "", f"{newer}\n")
    no_bus = assistant(environment, "service", "status")
    assert no_bus.returncode == 1
    assert no_bus.stderr.startswith(f"cannot tell whether {service.UNIT_NAME} runs: ")
    assert f"no systemd user manager answers ({newer}): XDG_RUNTIME_DIR is not" in no_bus.stderr


def test_no_assistant_running_beside_the_installed_service_says_to_start_the_service(
    tmp_path, systemctl, unit
):
    """`assistant run` beside an installed service would start an assistant that stops with the
    terminal, and the service would be refused while it runs."""
    environment, answer, calls = systemctl
    environment["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    answer("is-active", 3)
    unit.parent.mkdir(parents=True)
    unit.write_text(service.unit_text())
    for request in (["status"], ["reload"], ["send", "on"]):
        result = assistant(environment, *request)
        assert result.returncode == 1
        assert result.stderr.endswith(
            "the service is installed: start it with `systemctl --user start "
            "assistant.service`; why it stopped: `journalctl --user -u assistant.service`\n"
        ), request
        assert "assistant run" not in result.stderr
    assert calls()[-1] == "--user is-active --quiet assistant.service"


def test_a_user_manager_that_does_not_answer_holds_up_no_message(tmp_path, systemctl, unit):
    """`send`, `status` and `reload` with no assistant running ask whether the installed service
    runs: a hung user manager is given up on, and the message says so."""
    environment, _, calls = systemctl
    environment["SYSTEMCTL_HANGS"] = "is-active"
    unit.parent.mkdir(parents=True)
    unit.write_text(service.unit_text())
    result = assistant(environment, "status")
    assert result.returncode == 1
    assert result.stderr.endswith(
        f"the service is installed, but its user manager did not answer within "
        f"{service.ASK_SECONDS:g} s: start it with `systemctl --user start assistant.service` "
        "once it does, or meanwhile run `assistant run`\n"
    )
    assert calls() == ["--user is-active --quiet assistant.service"]


@needs_systemd
def test_no_assistant_running_where_no_user_manager_answers_says_what_starts_one(
    tmp_path, no_user_manager, unit
):
    """`systemctl --user start` cannot work without a user manager: what brings one, and
    `assistant run` meanwhile."""
    environment = {**no_user_manager, "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    unit.parent.mkdir(parents=True)
    unit.write_text(service.unit_text())
    result = assistant(environment, "status")
    assert result.returncode == 1
    assert (
        "the service is installed but cannot start: no systemd user manager answers (Failed to "
        in result.stderr
    )
    assert f"none runs for you at XDG_RUNTIME_DIR={tmp_path / 'run'} " in result.stderr
    assert result.stderr.endswith(
        "; then start it with `systemctl --user start assistant.service`, or meanwhile run "
        "`assistant run` (it stops with its terminal)\n"
    )


def test_uninstall_keeps_the_unit_when_it_could_not_be_disabled(systemctl, unit):
    environment, answer, calls = systemctl
    unit.parent.mkdir(parents=True)
    unit.write_text(service.unit_text())
    answer("disable", 1, "", "Failed to connect to bus: No medium found\n")
    refused = assistant(environment, "service", "uninstall")
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"kept {unit}: systemctl --user disable --now")
    assert "Failed to connect to bus" in refused.stderr
    assert unit.exists() and calls() == ["--user disable --now assistant.service"]
    answer("disable", 0)
    removed = assistant(environment, "service", "uninstall")
    assert removed.stdout == f"stopped, disabled and removed {unit}\n", removed.stderr
    assert not unit.exists() and calls()[-1] == "--user daemon-reload"


@needs_systemd
def test_systemd_judges_the_unit_sandboxed(tmp_path):
    unit = tmp_path / service.UNIT_NAME
    unit.write_text(service.unit_text(executable="/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--user", str(unit)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)},
    )
    passed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("✓")}
    for option in ("UMask=", "NoNewPrivileges=", "RestrictSUIDSGID=", "LockPersonality="):
        assert option in passed, result.stdout + result.stderr
    assert "SystemCallFilter=~@mount" in passed and "RestrictNamespaces=~user" in passed


def _syscalls(group: str) -> set[str]:
    """The system calls of a systemd syscall-filter group, its nested groups expanded."""
    listing = subprocess.run(
        ["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True
    ).stdout.splitlines()[1:]
    names = {line.strip() for line in listing if line.strip() and not line.strip().startswith("#")}
    return set().union(*(_syscalls(n) if n.startswith("@") else {n} for n in names))


@needs_systemd
@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_the_daemon_needs_no_system_call_or_socket_the_unit_denies(tmp_path):
    """The daemon, traced through a start, commands, a status, a reload and a stop, uses only
    what the unit's SystemCallFilter= and RestrictAddressFamilies= allow."""
    unit = dict(
        line.split("=", 1) for line in service.HARDENING.splitlines() if not line.startswith("#")
    )
    trace = tmp_path / "trace"
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    command = [sys.executable, "-m", "assistant", "run", "--source", "emulator"]
    daemon = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", str(trace), *command],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(Path(env["XDG_RUNTIME_DIR"], "assistant.sock").exists, timeout=60)
        for args in (["send", "go"], ["send", "stop"], ["status"]):
            assert assistant(env, *args).returncode == 0
        pid = int(assistant(env, "status").stdout.split()[1])
        os.kill(pid, signal.SIGHUP)
        os.kill(pid, signal.SIGTERM)
        daemon.wait(30)
    finally:
        daemon.kill()
        daemon.wait()
    traced = trace.read_text()
    used = set(re.findall(r"^\d+ +([a-z_0-9]+)\(", traced, re.M))
    allowed = _syscalls(unit["SystemCallFilter"])
    assert "openat" in used and used <= allowed, used - allowed
    families = set(re.findall(r"socket\((AF_[A-Z0-9]+)", traced))
    assert families <= set(unit["RestrictAddressFamilies"].split()), families
