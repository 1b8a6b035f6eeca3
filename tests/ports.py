"""A free TCP port on 127.0.0.1, for the tests that start a torch rendezvous: a fixed port
collides when two test runs share a machine. (This module holds no tests.)"""

import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
