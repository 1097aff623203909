"""Private by default: the README's ``streamlit run app.py`` listens on the loopback interface only
(``.streamlit/config.toml``: ``server.address = "localhost"``), so nobody else on the network can
open the app unless its owner shares it on purpose (README, "Sharing the app").

The listening sockets are read from ``/proc/net/tcp`` and ``/proc/net/tcp6``: no traffic is sent
to any other interface."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser import ROOT, free_port

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
    port = free_port()
    # the README's command; headless so that it opens no browser, on a free port
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
        addresses = listening_addresses(port)
        assert addresses, f"nothing listens on port {port}"
        assert all(address.is_loopback for address in addresses), addresses
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
