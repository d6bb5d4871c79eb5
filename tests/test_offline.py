"""Proof that the test run is offline: the hub is in offline mode and nothing may leave this machine.

The guard is tests/offline/sitecustomize.py (see conftest.py). Every route out is tried here, in
this process, in a subprocess and in a Jupyter kernel started as nbval starts the chapters' kernels;
each must be refused with "tests must run offline" (so each test fails if the guard is gone).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OFFLINE = "tests must run offline"
PUBLIC_IP = "93.184.216.34"  # any public address
PUBLIC_NAME = "example.com"  # any public host name
OFFLINE_DIR = Path(__file__).parent / "offline"


def test_hugging_face_hub_is_offline_for_every_test():
    from huggingface_hub import constants

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert constants.HF_HUB_OFFLINE  # read by huggingface_hub at import: any download fails at once


def test_a_hub_download_fails_at_once_with_no_network(tmp_path):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises((LocalEntryNotFoundError, OSError)):
        hf_hub_download("black-forest-labs/FLUX.1-schnell", "model_index.json", cache_dir=tmp_path)


# In this process -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family, address", [
    (socket.AF_INET, (PUBLIC_IP, 443)),
    (socket.AF_INET, ("127.0.0.1.nip.io", 443)),  # a public name that merely starts like loopback
    (socket.AF_INET6, ("2606:2800:220:1:248:1893:25c8:1946", 443, 0, 0)),
], ids=["ipv4", "name-like-loopback", "ipv6"])
def test_connect_beyond_this_machine_is_refused(family, address):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        with pytest.raises(ConnectionRefusedError, match=OFFLINE):
            sock.connect(address)


def test_connect_ex_returns_an_error_and_sends_nothing():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)  # a real attempt would answer EINPROGRESS (a SYN sent), never ECONNREFUSED
        assert sock.connect_ex((PUBLIC_IP, 443)) == errno.ECONNREFUSED
        with pytest.raises(OSError):
            sock.getpeername()  # not connected, not even in progress


def test_create_connection_is_refused():
    with pytest.raises(ConnectionRefusedError, match=OFFLINE):
        socket.create_connection((PUBLIC_IP, 443), timeout=2)
    with pytest.raises(socket.gaierror, match=OFFLINE):
        socket.create_connection((PUBLIC_NAME, 443), timeout=2)


def test_a_udp_datagram_beyond_this_machine_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(ConnectionRefusedError, match=OFFLINE):
            sock.sendto(b"\0" * 12, ("8.8.8.8", 53))  # DNS over UDP needs no connect()


@pytest.mark.parametrize("lookup", [
    lambda: socket.getaddrinfo(PUBLIC_NAME, 443),
    lambda: socket.gethostbyname(PUBLIC_NAME),
    lambda: socket.gethostbyname_ex(PUBLIC_NAME),
    lambda: socket.gethostbyaddr(PUBLIC_IP),
], ids=["getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"])
def test_dns_of_a_public_name_is_refused(lookup):
    with pytest.raises(socket.gaierror, match=OFFLINE):
        lookup()


def test_loopback_stays_allowed_for_kernels_and_the_site_server(tmp_path):
    assert getattr(socket, "_offline_guard", False), "the guard is not installed in this process"
    assert [a[4][0] for a in socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)] == ["127.0.0.1"]
    assert socket.gethostbyname("localhost").startswith("127.")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=2):
            pass
        with socket.socket() as client:
            assert client.connect_ex(("127.0.0.1", port)) == 0
    path = str(tmp_path / "sock")  # AF_UNIX: a path, not an address
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen(1)
        client.connect(path)


# In a subprocess and in a Jupyter kernel: they inherit PYTHONPATH, so `site` runs the guard -------------

_TRY_EVERY_ROUTE = textwrap.dedent(f"""
    import socket

    def connect_ex():
        sock = socket.socket()
        sock.setblocking(False)  # a real attempt answers EINPROGRESS, never ECONNREFUSED
        return sock.connect_ex(({PUBLIC_IP!r}, 443))

    tries = {{
        "connect": lambda: socket.socket().connect(({PUBLIC_IP!r}, 443)),
        "connect_ex": connect_ex,
        "create_connection": lambda: socket.create_connection(({PUBLIC_IP!r}, 443), timeout=2),
        "getaddrinfo": lambda: socket.getaddrinfo({PUBLIC_NAME!r}, 443),
        "gethostbyname": lambda: socket.gethostbyname({PUBLIC_NAME!r}),
    }}
    for name, attempt in tries.items():
        try:
            print(name, "returned", attempt())
        except OSError as e:
            print(name, type(e).__name__, e)
""")


def test_a_subprocess_is_refused_too():
    proc = subprocess.run([sys.executable, "-c", _TRY_EVERY_ROUTE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert set(lines) == {"connect", "connect_ex", "create_connection", "getaddrinfo", "gethostbyname"}
    assert lines["connect_ex"] == f"returned {errno.ECONNREFUSED}", lines["connect_ex"]
    for name in ("connect", "create_connection"):
        assert lines[name].startswith("ConnectionRefusedError") and OFFLINE in lines[name], lines[name]
    for name in ("getaddrinfo", "gethostbyname"):
        assert lines[name].startswith("gaierror") and OFFLINE in lines[name], lines[name]


def test_loopback_stays_allowed_in_a_subprocess():
    code = textwrap.dedent("""
        import socket, sitecustomize
        assert socket._offline_guard, "the guard is not installed in this subprocess"
        print(sitecustomize.__file__)
        with socket.create_server(("127.0.0.1", 0)) as server:
            with socket.create_connection(("localhost", server.getsockname()[1]), timeout=2):
                print("loopback ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    guard, result = proc.stdout.splitlines()
    assert Path(guard).resolve() == (OFFLINE_DIR / "sitecustomize.py").resolve() and result == "loopback ok"


def test_a_non_python_child_meets_a_closed_proxy():
    """curl, a browser, ...: every proxy variable is a closed loopback port, so a request fails at once."""
    code = "import urllib.request; urllib.request.urlopen('http://example.com', timeout=5)"
    proc = subprocess.run([sys.executable, "-S", "-c", code],  # -S: no `site`, so no guard in this child
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Connection refused" in proc.stderr, proc.stderr[-2000:]
    assert os.environ["NO_PROXY"] == "localhost,127.0.0.1,::1"


def test_a_jupyter_kernel_is_refused_too():
    """The kernel nbval runs the chapters in (`--nbval-current-env`), started the same way."""
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    km.start_kernel()
    kc = km.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        errors = {}
        for name, code in [
            ("connect", f"import socket; socket.create_connection(({PUBLIC_IP!r}, 443), timeout=2)"),
            ("dns", f"import socket; socket.getaddrinfo({PUBLIC_NAME!r}, 443)"),
        ]:
            outputs = []
            reply = kc.execute_interactive(code, timeout=60, output_hook=outputs.append)
            assert reply["content"]["status"] == "error", reply["content"]
            iopub_error = [m["content"] for m in outputs if m["msg_type"] == "error"]
            assert iopub_error and iopub_error[0]["evalue"] == reply["content"]["evalue"]
            errors[name] = (reply["content"]["ename"], reply["content"]["evalue"])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert errors["connect"][0] == "ConnectionRefusedError" and OFFLINE in errors["connect"][1]
    assert errors["dns"][0] == "gaierror" and OFFLINE in errors["dns"][1]
