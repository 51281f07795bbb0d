"""Ports handed to test servers: free, never twice, and outside the kernel's ephemeral range
(where an outgoing connection could take one before its server binds it)."""

from __future__ import annotations

import socket

from chassis.testing.infra import _ephemeral_low, free_port


def test_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(1024 <= port < _ephemeral_low() for port in ports)
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nothing holds it


def test_a_port_something_listens_on_is_never_handed_out() -> None:
    # Hold many ports of the range free_port draws from (bound here, not handed out by it):
    # a free_port that did not check would return some of them within a few hundred calls.
    first = max(1024, _ephemeral_low() - 12_000)
    held = []
    try:
        for port in range(first, first + 800):
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sock.listen()
            held.append(sock)
        taken = {s.getsockname()[1] for s in held}
        assert len(taken) > 500
        assert not taken & {free_port() for _ in range(300)}
    finally:
        for sock in held:
            sock.close()
