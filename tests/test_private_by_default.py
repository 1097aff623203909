"""Private by default: the README's ``streamlit run app.py`` listens on the loopback interface only
(``.streamlit/config.toml``: ``server.address = "localhost"``), so nobody else on the network can
open the app unless its owner shares it on purpose (README, "Sharing the app").

The listening sockets are read from ``/proc/net/tcp`` and ``/proc/net/tcp6``: no traffic is sent
to any other interface."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from browser import streamlit_process

LISTEN = "0A"


def listening_addresses(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp*)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != LISTEN or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(ipaddress.ip_address(words))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
def test_the_readme_command_listens_on_loopback_only():
    # the README's command (headless, so that it opens no browser, on a free port), waited for
    # until it prints its URL and answers its health check
    with streamlit_process(address=None) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        addresses = listening_addresses(port)
    assert addresses, f"nothing listens on port {port}"
    assert all(address.is_loopback for address in addresses), addresses
