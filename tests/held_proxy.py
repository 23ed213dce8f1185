"""A TCP port on 127.0.0.1 that holds the first connection made to it, answering nothing, until
the test releases it; then relays it to a real server. In front of a TLS broker it holds a
client's connect open in its TLS handshake for as long as the test wants:

    proxy = HeldProxy(broker.port)  # connect the client to proxy.port
    assert proxy.accepted.wait(5)   # the client now waits in its connect
    proxy.release()                 # the handshake goes on, with the broker
"""

from __future__ import annotations

import socket
import threading


class HeldProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.accepted = threading.Event()
        """Set once a client has connected (its connect is held from then on)."""
        self.ended = threading.Event()
        """Set once the client has closed its side of the relayed connection."""
        self._released = threading.Event()
        self._sockets = [self._server]
        threading.Thread(target=self._hold_then_relay, daemon=True).start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        for each in self._sockets:
            each.close()

    def _hold_then_relay(self) -> None:
        try:
            client, _address = self._server.accept()
        except OSError:  # closed before anyone connected
            return
        self._sockets.append(client)
        self.accepted.set()
        self._released.wait()
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        self._sockets.append(upstream)
        threading.Thread(target=_copy, args=(upstream, client), daemon=True).start()
        _copy(client, upstream)
        self.ended.set()


def _copy(source: socket.socket, destination: socket.socket) -> None:
    """Copy until `source` closes, then close `destination` for writing."""
    try:
        while data := source.recv(65536):
            destination.sendall(data)
        destination.shutdown(socket.SHUT_WR)
    except OSError:
        pass
