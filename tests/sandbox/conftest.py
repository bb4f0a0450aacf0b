"""Fixtures: one sandbox for the session on free ports, reset before each test."""

from __future__ import annotations

import socket
from contextlib import ExitStack

import pytest

from sandbox.client import SandboxControl
from sandbox.server import start_in_thread


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (sockets held together so they differ)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@pytest.fixture(name="free_ports")
def free_ports_fixture():
    """free_ports(count) for tests that start their own servers."""
    return free_ports


@pytest.fixture(scope="session")
def start_sandbox():
    """Start a sandbox on free ports: start_sandbox(data_dir, faults=...); stopped at the end."""
    started = []

    def start(data_dir, **kwargs):
        handle = start_in_thread(*free_ports(2), data_dir, **kwargs)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture(scope="session")
def sandbox(start_sandbox, tmp_path_factory):
    return start_sandbox(tmp_path_factory.mktemp("sandbox"))


@pytest.fixture
def control(sandbox) -> SandboxControl:
    control = SandboxControl(sandbox.base_url)
    control.reset()
    return control


@pytest.fixture
def base_url(sandbox) -> str:
    return sandbox.base_url
