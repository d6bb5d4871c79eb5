"""Provenance names the device a run was loaded on: a CUDA run its GPU (probed with CUDA patched in), a CPU run
its CPU; resolved once, from the loaded pipeline, and carried into every item."""

from types import SimpleNamespace

import pytest
import torch

from lib.machine import device_info, machine_folder, source_commit, versions


def test_a_cuda_device_is_named_by_its_gpu_and_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index=0: SimpleNamespace(total_memory=80 * 2**30))
    info = device_info(torch.device("cuda"))
    assert info["device"] == "cuda" and info["gpu"] == "NVIDIA H100 80GB HBM3"
    assert info["gpu_memory_bytes"] == 80 * 2**30
    assert machine_folder(info) == "nvidia-h100-80gb-hbm3-80gb"  # not the host CPU's name


def test_a_cpu_device_is_named_by_its_chip():
    info = device_info(torch.device("cpu"))
    assert info["device"] == "cpu" and "gpu" not in info and info["memory_bytes"] > 0
    assert machine_folder(info).endswith(f"-{round(info['memory_bytes'] / 2**30)}gb")


def test_versions_include_this_library():
    from lib import __version__

    assert versions()["lib"] == __version__ and versions()["torch"]


def test_the_source_commit_names_the_checkout_and_changes_to_lib(tmp_path):
    import re
    import subprocess

    repo = tmp_path / "repo"
    (repo / "lib").mkdir(parents=True)
    (repo / "lib" / "a.py").write_text("x = 1\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    assert source_commit(repo) is None  # not a git checkout
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = source_commit(repo)
    assert head is not None and re.fullmatch(r"[0-9a-f]{40}", head)
    (repo / "notes.txt").write_text("outside lib/")
    assert source_commit(repo) == head
    (repo / "lib" / "a.py").write_text("x = 2\n")
    assert source_commit(repo) == head + "+changes"


def test_run_set_takes_provenance_from_the_loaded_pipeline(monkeypatch, tmp_path, miniatures):
    import lib.pipelines.runs as runs
    from lib.config import DiffusionConfig

    seen = []
    real = runs.device_info

    def spy(device):
        seen.append(device)
        return {**real(device), "chip": "probed from the loaded pipeline"}

    monkeypatch.setattr(runs, "device_info", spy)
    loads = []
    real_load = runs.load_pipeline
    monkeypatch.setattr(runs, "load_pipeline", lambda *a, **k: loads.append(real_load(*a, **k)) or loads[-1])
    config = DiffusionConfig("sd3-medium", "a cat", steps=1, drop_t5=True, miniature=True)
    record = runs.run_set(runs.RunSet("one", "one image", [runs.RunItem("x", config)]), tmp_path, "cpu", miniatures)
    assert seen == [loads[0].device]  # once per load, with the device the pipeline is on
    made = record.item("x")["made"]
    assert made["device"]["chip"] == "probed from the loaded pipeline" and made["source"] == "miniature"
    assert [load["name"] for load in record.item("x")["loads"]] == ["load_text_encoders", "load_denoiser", "load_decoder"]


def test_an_unavailable_device_is_refused_before_loading(tmp_path, capsys):
    from lib.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["compare", "--miniature", "--random-weights", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "not available" in capsys.readouterr().err
    assert not (tmp_path / "compare").exists()


@pytest.mark.parametrize("ids", [[], ["a", "a"]])
def test_a_set_with_no_items_or_a_repeated_id_is_refused(tmp_path, ids, miniatures):
    import lib.pipelines.runs as runs
    from lib.config import DiffusionConfig
    from lib.errors import ConfigError

    config = DiffusionConfig("sd3-medium", "a cat", miniature=True)
    with pytest.raises(ConfigError, match="own id"):
        runs.run_set(runs.RunSet("s", "d", [runs.RunItem(i, config) for i in ids]), tmp_path, "cpu", miniatures)
