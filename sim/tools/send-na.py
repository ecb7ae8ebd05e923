#!/usr/bin/env python3
"""Send one unsolicited IPv6 neighbour advertisement, as a host claiming an address does.

Usage: send-na.py IFACE SOURCE TARGET [DESTINATION]

From SOURCE (an address of IFACE) to DESTINATION (default ff02::1, all nodes),
with hop limit 255, the override flag and IFACE's MAC as target link-layer
address. The kernel fills in the ICMPv6 checksum. Used by the simulator's
tests to prove that the fabric drops advertisements for addresses that are
not the NIC's.
"""
import ipaddress
import socket
import struct
import sys

ND_NEIGHBOR_ADVERT = 136
NA_FLAG_OVERRIDE = 0x20000000
OPT_TARGET_LLADDR = 2


def main() -> int:
    if len(sys.argv) not in (4, 5):
        sys.stderr.write(__doc__ or "")
        return 2
    iface, source, target = sys.argv[1:4]
    destination = sys.argv[4] if len(sys.argv) == 5 else "ff02::1"
    for a in (source, target, destination):
        ipaddress.IPv6Address(a)
    if not iface.replace("-", "").replace(".", "").isalnum():
        raise SystemExit(f"bad interface name {iface!r}")
    with open(f"/sys/class/net/{iface}/address", encoding="ascii") as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    index = socket.if_nametoindex(iface)
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    s.bind((source, 0, 0, index))
    message = struct.pack("!BBHI16s", ND_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE, socket.inet_pton(socket.AF_INET6, target))
    message += struct.pack("!BB6s", OPT_TARGET_LLADDR, 1, mac)
    s.sendto(message, (destination, 0, 0, index))
    return 0


if __name__ == "__main__":
    sys.exit(main())
