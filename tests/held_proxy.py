"""A TCP port on 127.0.0.1 that holds the first connection made to it, answering nothing, until
the test releases it; then relays it, and every later connection at once, to a real server. In
front of a TLS broker it holds a client's connect open in its TLS handshake for as long as the
test wants:

    proxy = HeldProxy(broker.port)  # connect the client to proxy.port
    assert proxy.accepted.wait(5)   # the client now waits in its connect
    proxy.release()                 # the handshake goes on, with the broker

A relayed connection can die without either end knowing (Wi-Fi gone, a laptop's lid closed),
then end, so that the client connects again:

    proxy.swallow()  # what either end sends from now on is read and thrown away
    proxy.cut()      # both ends see their connection close; new connections are relayed
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class _Relay:
    """One relayed connection: the client's socket and the server's."""

    client: socket.socket
    upstream: socket.socket
    swallowing: threading.Event = field(default_factory=threading.Event)


class HeldProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.accepted = threading.Event()
        """Set once a client has connected (its connect is held from then on)."""
        self.ended = threading.Event()
        """Set once a client has closed its side of a relayed connection."""
        self._released = threading.Event()
        self._closed = threading.Event()
        self._held: socket.socket | None = None
        self._relays: list[_Relay] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._released.set()

    def swallow(self) -> None:
        """Relay nothing more on the connections open now: both ends go on writing, unanswered."""
        for relay in self._relays:
            relay.swallowing.set()

    def cut(self) -> None:
        """Close the connections open now, on both ends; later ones are relayed."""
        relays, self._relays = self._relays, []
        for relay in relays:
            _close(relay.client)
            _close(relay.upstream)

    def close(self) -> None:
        self._closed.set()
        _close(self._server)
        if self._held:
            _close(self._held)
        self.release()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._server.accept()
            except OSError:  # closed
                return
            if not self.accepted.is_set():
                self._held = client
                self.accepted.set()
                self._released.wait()
            if self._closed.is_set():
                _close(client)
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                _close(client)
                continue
            relay = _Relay(client, upstream)
            self._relays.append(relay)
            threading.Thread(target=_copy, args=(relay, upstream, client), daemon=True).start()
            threading.Thread(target=self._relay_client, args=(relay,), daemon=True).start()

    def _relay_client(self, relay: _Relay) -> None:
        _copy(relay, relay.client, relay.upstream)
        self.ended.set()


def _copy(relay: _Relay, source: socket.socket, destination: socket.socket) -> None:
    """Copy until `source` closes (but nothing once `relay` swallows), then close `destination`
    for writing."""
    try:
        while data := source.recv(65536):
            if not relay.swallowing.is_set():
                destination.sendall(data)
        destination.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _close(each: socket.socket) -> None:
    """Close `each`, waking a thread blocked reading it (a plain close does not)."""
    with contextlib.suppress(OSError):  # not connected (a listening socket), or already shut
        each.shutdown(socket.SHUT_RDWR)
    each.close()
