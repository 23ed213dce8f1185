"""A real mosquitto broker on 127.0.0.1 for tests, and a subscriber that records messages.

    with Mosquitto(tmp_path, users={"lamp": "secret"}) as broker:
        broker.port ...; broker.stop(); broker.start()  # restarts on the same port

`users` turns on a password file (anonymous clients are then refused); `tls` serves TLS with
a self-signed certificate made by openssl (`broker.ca_file` is the certificate to trust);
`max_queued` is how many messages the broker keeps for a subscriber that lags (then it drops).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from waiting import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mosquitto:
    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        users: dict[str, str] | None = None,
        tls: bool = False,
        max_queued: int | None = None,
    ):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed (apt install mosquitto)")
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = users
        self.ca_file: Path | None = None
        self.process: subprocess.Popen | None = None
        self.max_queued = max_queued
        self._marks = 0
        self.config = self._write_config(tls)

    def _write_config(self, tls: bool) -> Path:
        lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if self.max_queued is not None:  # mosquitto's default is 1000
            lines.append(f"max_queued_messages {self.max_queued}")
        if os.geteuid() == 0:  # else mosquitto runs as user mosquitto, who cannot read workdir
            lines.append("user root")
        if self.users is not None:
            passwords = self.workdir / "passwords"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwords), user, password], check=True
                )
            passwords.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            self.ca_file = self.workdir / "broker.crt"
            key = self.workdir / "broker.key"
            request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
            subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
            files = ["-keyout", str(key), "-out", str(self.ca_file)]
            subprocess.run([*request, *subject, *files], check=True, capture_output=True)
            lines += [f"certfile {self.ca_file}", f"keyfile {key}"]
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout: float = 10.0) -> None:
        self.log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: see {self.workdir / 'mosquitto.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            self.log.close()

    def log_until_now(self) -> str:
        """The broker's log, once it holds what the broker did for every connection made before
        this call: a client that logs in now is logged after them (the broker takes its
        connections in turn, on one thread)."""
        self._marks += 1
        mark = f"log-mark-{self._marks}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=mark)
        if self.users:
            client.username_pw_set(*next(iter(self.users.items())))
        if self.ca_file:
            client.tls_set(ca_certs=str(self.ca_file))
        client.connect("127.0.0.1", self.port)
        client.disconnect()
        log = self.workdir / "mosquitto.log"
        if not wait_until(lambda: f" as {mark} " in log.read_text(errors="replace"), 10):
            raise RuntimeError(f"mosquitto did not log {mark} within 10 s: see {log}")
        return log.read_text(errors="replace")

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Recorder:
    """Subscribes to `topic` and records every (topic, payload) received."""

    def __init__(self, broker: Mosquitto, topic: str = "#", username: str = "", password: str = ""):
        self.messages: list[tuple[str, str]] = []
        self._arrived = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        if broker.ca_file:
            self.client.tls_set(ca_certs=str(broker.ca_file))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not subscribed.wait(5):
            raise RuntimeError("the recording subscriber could not subscribe")

    def _on_message(self, client, userdata, message) -> None:
        with self._arrived:
            self.messages.append((message.topic, message.payload.decode()))
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, str]]:
        """The messages once at least `count` have arrived (fewer on timeout)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def before(self, message: tuple[str, str], timeout: float = 5.0) -> list[tuple[str, str]]:
        """The messages received before `message` (topic, payload), once it has arrived."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: message in self.messages, timeout):
                raise RuntimeError(f"{message} did not arrive within {timeout} s")
            return self.messages[: self.messages.index(message)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained(broker: Mosquitto, prefix: str) -> dict[str, str]:
    """The retained messages under `prefix/` now (topic: payload), as a new subscriber gets them:
    the broker sends them before a message the subscriber publishes once subscribed."""
    recorder = Recorder(broker, f"{prefix}/#")
    marker = (f"{prefix}/end-of-retained", "")
    try:
        recorder.client.publish(marker[0], marker[1], qos=1)
        return dict(recorder.before(marker))
    finally:
        recorder.close()
