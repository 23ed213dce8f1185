"""The systemd user unit."""

import shutil
import subprocess

import pytest

from assistant import service

needs_systemd = pytest.mark.skipif(
    not shutil.which("systemd-analyze"), reason="systemd is not installed"
)


def test_unit_runs_the_assistant_reloads_on_hup_and_restarts_on_failure():
    text = service.unit_text(executable="/usr/bin/assistant", config="/etc/a.yaml")
    assert "ExecStart=/usr/bin/assistant run --config /etc/a.yaml\n" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID\n" in text
    assert "Restart=on-failure\n" in text
    assert "WantedBy=default.target\n" in text


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
def test_install_status_uninstall_without_a_user_manager(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    unit = tmp_path / "systemd" / "user" / service.UNIT_NAME
    assert "not installed" in service.status()
    message = service.install()
    assert unit.exists()
    assert "systemctl --user enable --now assistant.service" in message
    assert service.uninstall().startswith(f"removed {unit}")
    assert not unit.exists()
    assert service.uninstall() == f"nothing to remove: {unit} does not exist"
