"""Proof that the test run is offline: the hub is in offline mode and no socket may leave this machine."""

from __future__ import annotations

import os
import socket

import pytest


def test_hugging_face_hub_is_offline_for_every_test():
    from huggingface_hub import constants

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert constants.HF_HUB_OFFLINE  # read by huggingface_hub at import: any download fails at once


def test_a_connection_beyond_this_machine_is_refused():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError, match="tests must run offline"):
            sock.connect(("93.184.216.34", 443))  # any public address: the guard refuses before a packet leaves
    finally:
        sock.close()


def test_loopback_stays_allowed_for_kernels_and_the_site_server():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())
    finally:
        client.close()
        server.close()


def test_a_hub_download_fails_at_once_with_no_network(tmp_path):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises((LocalEntryNotFoundError, OSError)):
        hf_hub_download("black-forest-labs/FLUX.1-schnell", "model_index.json", cache_dir=tmp_path)
