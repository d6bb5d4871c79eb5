"""Network guard for every Python process the tests start: anything beyond this machine is refused.

The root conftest.py puts this folder first on PYTHONPATH, so `site` imports this file at start-up
in pytest's subprocesses, nbval's Jupyter kernels and the book build's kernels; conftest.py also
runs it inside pytest itself. It refuses, it does not observe: a refused call fails at once with
"tests must run offline" and no packet or DNS query leaves the machine. Allowed: loopback
(127.0.0.0/8, ::1, `localhost`), AF_UNIX sockets, and an empty or None host (a local bind).

Import-safe on Python >= 3.10; imports only `errno` and `socket` (plus importlib to chain).
"""

import errno
import socket

MESSAGE = "tests must run offline"


def _is_loopback(host):
    """True for None or '' (local bind), 'localhost', 127.0.0.0/8, ::1 and ::ffff:127.x.y.z."""
    if host is None:
        return True
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in ("", "localhost", "localhost."):
        return True
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except (OSError, ValueError):  # not a numeric address: a host name, which needs DNS
        return False
    if len(packed) == 4:
        return packed[0] == 127
    return packed == bytes(15) + b"\x01" or (packed[:12] == bytes(10) + b"\xff\xff" and packed[12] == 127)


def _is_numeric(host):
    """True for a numeric IPv4/IPv6 address: resolving it needs no DNS (connect() then decides)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except (OSError, ValueError, TypeError):
            pass
    return False


def _check_address(sock, address):
    """Raise ConnectionRefusedError unless `address` (for `sock`'s family) is on this machine."""
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address \
            and _is_loopback(address[0]):
        return  # connect() resolves a name itself (in C), so only loopback names/addresses pass
    raise ConnectionRefusedError(errno.ECONNREFUSED, f"connection to {address!r} refused: {MESSAGE}")


def _check_name(host):
    """Raise socket.gaierror unless looking `host` up needs no DNS (loopback or numeric)."""
    if not (_is_loopback(host) or _is_numeric(host)):
        raise socket.gaierror(getattr(socket, "EAI_NONAME", -2), f"lookup of {host!r} refused: {MESSAGE}")


def install():
    """Patch the socket module once; socket.create_connection and ssl go through these patches."""
    if getattr(socket, "_offline_guard", False):
        return
    cls = socket.socket
    real_connect, real_connect_ex = cls.connect, cls.connect_ex
    real_sendto, real_sendmsg = cls.sendto, getattr(cls, "sendmsg", None)
    real_getaddrinfo, real_gethostbyname = socket.getaddrinfo, socket.gethostbyname
    real_gethostbyname_ex, real_gethostbyaddr = socket.gethostbyname_ex, socket.gethostbyaddr

    def connect(self, address):
        _check_address(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):  # like the real one: an errno, not an exception
        try:
            _check_address(self, address)
        except ConnectionRefusedError:
            return errno.ECONNREFUSED
        return real_connect_ex(self, address)

    def sendto(self, data, *args):  # sendto(data[, flags], address): UDP (e.g. DNS) needs no connect()
        if args:
            _check_address(self, args[-1])
        return real_sendto(self, data, *args)

    def sendmsg(self, buffers, *args):  # sendmsg(buffers[, ancdata[, flags[, address]]])
        if len(args) >= 3 and args[2] is not None:
            _check_address(self, args[2])
        return real_sendmsg(self, buffers, *args)

    def getaddrinfo(host, port, *args, **kwargs):  # also what create_connection() calls
        _check_name(host)
        return real_getaddrinfo(host, port, *args, **kwargs)

    def gethostbyname(host):
        _check_name(host)
        return real_gethostbyname(host)

    def gethostbyname_ex(host):
        _check_name(host)
        return real_gethostbyname_ex(host)

    def gethostbyaddr(host):  # a reverse lookup is DNS even for a numeric address
        if not _is_loopback(host):
            raise socket.gaierror(getattr(socket, "EAI_NONAME", -2), f"lookup of {host!r} refused: {MESSAGE}")
        return real_gethostbyaddr(host)

    cls.connect, cls.connect_ex, cls.sendto = connect, connect_ex, sendto
    if real_sendmsg is not None:  # not on Windows
        cls.sendmsg = sendmsg
    socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname
    socket.gethostbyname_ex, socket.gethostbyaddr = gethostbyname_ex, gethostbyaddr
    socket._offline_guard = True


def _chain():
    """Run the sitecustomize this file shadows (one later on sys.path), if there is one."""
    import importlib.machinery
    import importlib.util
    import os
    import sys

    if getattr(socket, "_offline_chained", False):  # a second copy of this file chains no further
        return
    socket._offline_chained = True
    here = os.path.realpath(os.path.dirname(__file__))
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


install()
if __name__ == "sitecustomize":  # imported by `site` at start-up, not loaded by conftest.py
    _chain()
