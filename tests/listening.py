"""Which TCP ports a test's own processes listen on, and on which address (servers must bind to 127.0.0.1)."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _descendants(pid: int) -> set[int]:
    """pid and every process below it."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += children.get(p, [])
    return out


def _socket_owners(owner: int | None) -> dict[str, set[int]]:
    """socket inode -> the pids (owner and its descendants) that hold it open."""
    inodes: dict[str, set[int]] = {}
    for pid in _descendants(owner or os.getpid()):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.setdefault(link[8:-1], set()).add(pid)
        except OSError:
            continue
    return inodes


def _listening(inodes: dict[str, set[int]]) -> dict[int, tuple[str, str]]:
    """port -> (local address, socket inode) of the listening TCP sockets among `inodes`."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state != "0A" or fields[9] not in inodes:
                continue
            addr, port = local.split(":")
            raw = bytes.fromhex(addr)
            if len(raw) == 4:
                text = socket.inet_ntoa(raw[::-1])
            else:  # four little-endian 32-bit words
                ip6 = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                text = socket.inet_ntop(socket.AF_INET6, ip6).removeprefix("::ffff:")
            out[int(port, 16)] = (text, fields[9])
    return out


def listening_ports(owner: int | None = None) -> dict[int, str]:
    """port -> local address of the listening TCP sockets (IPv4; IPv6 shown as a.b.c.d or ::) of process `owner`
    and its descendants (default: this test process), so other people's servers on a shared machine do not count."""
    return {port: addr for port, (addr, _) in _listening(_socket_owners(owner)).items()}


def port_owners(ports: set[int], owner: int | None = None) -> dict[int, list[str]]:
    """port -> "pid: command line" of each process (owner or below) listening on it: for a failing test's message."""
    inodes = _socket_owners(owner)
    out: dict[int, list[str]] = {}
    for port, (_, inode) in _listening(inodes).items():
        if port in ports:
            for pid in sorted(inodes[inode]):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    cmd = "(gone)"
                out.setdefault(port, []).append(f"{pid}{' (this test)' if pid == os.getpid() else ''}: {cmd[:200]}")
    return out
