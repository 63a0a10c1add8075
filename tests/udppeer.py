# SPDX-License-Identifier: Apache-2.0
"""A scripted peer on one UDP socket of 127.0.0.1, for tests that need a SIP or DNS server that
misbehaves on purpose. A thread reads datagrams (polling every 0.1 s, so close() is prompt) and
hands each to ``handle(data, peer)``, which a subclass writes; ``reply(data, peer)`` answers."""

import socket
import threading


class UdpPeer:
    bufsize = 65535

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.running = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        """Start reading; a subclass calls it last in its __init__, once its state is set."""
        self.running = True
        self.thread.start()
        return self

    def _serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(self.bufsize)
            except socket.timeout:
                continue
            except OSError:
                return
            self.handle(data, peer)

    def handle(self, data, peer):
        raise NotImplementedError

    def reply(self, data, peer):
        self.sock.sendto(data, peer)

    def close(self):
        self.running = False
        if self.thread.is_alive():
            self.thread.join(2)
        self.sock.close()
