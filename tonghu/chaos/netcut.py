"""A network namespace for the edge agent, joined to the host by two veth pairs that can be cut.

The agent runs inside the namespace (``ip netns exec``), as on a gateway with two networks: the ``factory`` link
reaches the device broker, the ``uplink`` link the platform broker; each broker listens on the host end of its
link. ``cut()`` takes the host end of the uplink down: the agent's TCP connection stalls with no reset, as
when a cable or a WAN link fails, while devices and the factory side carry on. Needs root (CAP_NET_ADMIN).
"""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess

from tonghu.common.errors import PermanentError


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise PermanentError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def supported() -> str | None:
    """None when namespaces can be made here, otherwise why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"tchk{os.getpid() % 100000}"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (PermanentError, OSError) as err:
        return str(err)
    return None


def _used_nets() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=30).stdout
    return [ipaddress.ip_interface(line.split()[3]).network for line in out.splitlines() if len(line.split()) > 3]


class EdgeNetns:
    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000}{random.randrange(100):02d}"
        self.ns = f"tonghu-edge-{tag}"
        self.links = {"factory": f"thf{tag}", "uplink": f"thu{tag}"}
        self.host_ip: dict[str, str] = {}
        self.edge_ip: dict[str, str] = {}
        self._made: list[str] = []

    def prefix(self) -> list[str]:
        """Command prefix that runs a program inside the namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.ns]

    def create(self) -> None:
        used = _used_nets()
        _ip("netns", "add", self.ns)
        try:
            _ip("-n", self.ns, "link", "set", "lo", "up")
            for name, host_end in self.links.items():
                net = self._free_net(used)
                used.append(net)
                host, edge = (str(a) for a in list(net.hosts())[:2])
                _ip("link", "add", host_end, "type", "veth", "peer", "name", f"{host_end}e")
                self._made.append(host_end)
                _ip("link", "set", f"{host_end}e", "netns", self.ns)
                _ip("addr", "add", f"{host}/30", "dev", host_end)
                _ip("link", "set", host_end, "up")
                _ip("-n", self.ns, "addr", "add", f"{edge}/30", "dev", f"{host_end}e")
                _ip("-n", self.ns, "link", "set", f"{host_end}e", "up")
                self.host_ip[name], self.edge_ip[name] = host, edge
        except BaseException:
            self.destroy()
            raise

    @staticmethod
    def _free_net(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
        for _ in range(1000):
            net = ipaddress.ip_network(f"10.{random.randrange(200, 250)}.{random.randrange(256)}."
                                       f"{4 * random.randrange(64)}/30")
            if not any(net.overlaps(u) for u in used):
                return net
        raise PermanentError("no free /30 in 10.200.0.0/13 for the edge namespace")

    def cut(self) -> None:
        _ip("link", "set", self.links["uplink"], "down")

    def restore(self) -> None:
        _ip("link", "set", self.links["uplink"], "up")

    def destroy(self) -> None:
        for host_end in self._made:
            subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30)
        self._made = []
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
