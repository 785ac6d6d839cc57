"""Reading listening TCP sockets from ``/proc/net/tcp`` and ``tcp6`` (for the listener tests)."""

from __future__ import annotations

import ipaddress
import os


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # four little-endian 32-bit words
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def listening_addresses(proc_net_text: str, inodes: set[str] | None = None) -> list[tuple[str, int]]:
    """(address, port) of every LISTEN socket in the text of ``/proc/net/tcp``/``tcp6`` (only those whose
    inode is in ``inodes``, when given)."""
    out = []
    for line in proc_net_text.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[3] != "0A" or ":" not in fields[1]:
            continue
        if inodes is not None and fields[9] not in inodes:
            continue
        hex_address, hex_port = fields[1].split(":")
        out.append((_address(hex_address), int(hex_port, 16)))
    return out


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1."""
    return ipaddress.ip_address(address).is_loopback


def socket_inodes(pids: list[int]) -> set[str]:
    """Inodes of the sockets the processes hold."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue  # exited meanwhile
    return inodes


def session_members(session_ids: set[int]) -> list[int]:
    """Every process whose session is one of ``session_ids`` (a service and the processes it started)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) in session_ids:
                members.append(int(entry))
    return members


def host_listeners(pids: list[int]) -> list[tuple[str, int]]:
    """(address, port) of the host's LISTEN sockets held by ``pids``."""
    inodes = socket_inodes(pids)
    text = open("/proc/net/tcp").read() + open("/proc/net/tcp6").read()
    return listening_addresses(text, inodes)
