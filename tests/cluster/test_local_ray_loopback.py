"""The embedded local Ray that trw_ray starts listens on loopback addresses only (its own processes' sockets)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

PROBE = textwrap.dedent("""
    import json, os
    from pathlib import Path

    def children(pid):
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
        return found

    def descendants(pid):
        result, todo = [], [pid]
        while todo:
            current = todo.pop()
            for child in children(current):
                result.append(child)
                todo.append(child)
        return result

    def listening(pids):
        inodes = {}
        for pid in pids:
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes[target[8:-1]] = pid
            except OSError:
                continue
        sockets = []
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    sockets.append([table, fields[1], inodes[fields[9]]])
        return sockets

    from trw_ray.ray_session import ensure_ray
    ray = ensure_ray(num_cpus=1)
    ray.get(ray.remote(lambda: os.getpid()).remote())
    pids = [os.getpid(), *descendants(os.getpid())]
    print("PROBE " + json.dumps({"pids": len(pids), "sockets": listening(pids)}))
    ray.shutdown()
""")


def _address(table: str, hex_address: str) -> str:
    host = hex_address.split(":")[0]
    raw = bytes.fromhex(host)
    if table == "tcp":
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def test_every_socket_the_embedded_ray_listens_on_is_on_loopback(tmp_path):
    environment = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "HOME": str(tmp_path)}
    import os

    completed = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=180,
                               check=False, env={**os.environ, **environment})
    line = next((line for line in completed.stdout.splitlines() if line.startswith("PROBE ")), None)
    assert line is not None, completed.stderr[-3000:]
    probe = json.loads(line[len("PROBE "):])
    addresses = {(_address(table, local), pid) for table, local, pid in probe["sockets"]}
    assert probe["pids"] >= 4 and len(addresses) >= 4, probe  # GCS, raylet, agents, workers...
    exposed = sorted({address for address, _ in addresses if address not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")})
    assert not exposed, f"listening beyond loopback: {exposed} ({sorted(addresses)})"
