"""`python -m lib`: every verb runs on the miniatures; bad input exits 2 with one line before anything loads;
a re-run resumes only what it would make again, keeps provenance as made, and never mixes settings."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from lib.cli import main
from lib.records import load_record

GEN = ["generate", "--miniature", "--random-weights", "--prompt", "a cat"]


def test_generate_writes_a_64px_png(tmp_path, capsys):
    out = tmp_path / "new" / "cat.png"
    assert main(["generate", "--miniature", "--random-weights", "--model", "sd3-medium", "--drop-t5", "--prompt", "a cat",
                 "--steps", "2", "--output", str(out)]) == 0
    assert Image.open(out).size == (64, 64)
    assert "miniature model" in capsys.readouterr().out
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # written atomically, no temp left


def _one_line_error(capsys, says):
    err = capsys.readouterr().err
    assert says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--model", "sdxl"], "known models: sd3-medium, flux-schnell"),
        (["--height", "50"], "multiple of 16"),
        (["--steps", "0"], "steps must be an integer >= 1"),
        (["--steps", "10000"], "steps"),
        (["--seed", str(2**64)], "seed"),
        (["--seed", "-1"], "seed"),
        (["--model", "flux-schnell", "--guidance", "3.5"], "guidance-distilled"),
        (["--model", "flux-schnell", "--quantization", "Q9"], "unknown quantization"),
        (["--prompt", ""], "prompt is empty"),
        (["--gguf", "x.gguf"], "--gguf needs --snapshot"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_message(args, says, tmp_path, capsys):
    assert main([*GEN, "--output", str(tmp_path / "x.png"), *args]) == 2
    _one_line_error(capsys, says)


def test_bad_output_paths_exit_2_before_anything_loads(tmp_path, capsys, monkeypatch):
    import lib.pipelines

    def no_loading(*a, **k):
        raise AssertionError("a model was loaded before the output path was checked")

    monkeypatch.setattr(lib.pipelines, "load_pipeline", no_loading)
    (tmp_path / "d").mkdir()
    (tmp_path / "file").write_text("x")
    cases = [(tmp_path / "d", "is a folder"), (tmp_path / "x.jpg", "must end in .png"),
             (tmp_path / "file" / "x.png", "is a file, not a folder")]
    if not os.access("/proc/sys", os.W_OK):  # a folder nobody may write, even root
        cases.append((__import__("pathlib").Path("/proc/sys/dme/x.png"), "is not writable"))
    for path, says in cases:
        assert main([*GEN, "--output", str(path)]) == 2, path
        _one_line_error(capsys, says)


@pytest.mark.parametrize("verb", [["compare"], ["benchmark", "--steps", "1"], ["precompute", "--only", "benchmark"]])
def test_an_existing_file_as_out_folder_exits_2(verb, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main([*verb, "--miniature", "--random-weights", "--out", str(tmp_path / "f")]) == 2
    _one_line_error(capsys, "is a file")


def test_module_entry_point_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "lib", "generate", "--miniature", "--random-weights", "--model", "nope", "--prompt", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "known models" in proc.stderr


def _wait_until_importing_torch(proc: subprocess.Popen, limit: float = 60.0) -> None:
    """Wait until the child maps torch's libraries: past interpreter start-up (a SIGINT during `site` is
    Python's own affair, not the library's), inside the library's lazy imports. Busy cores make a fixed
    delay land in start-up; elsewhere than Linux, fall back to a fixed delay."""
    maps = Path(f"/proc/{proc.pid}/maps")
    if not maps.exists():
        time.sleep(1.0)
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if "libtorch" in maps.read_text():
                return
        except OSError:
            return
        time.sleep(0.02)


@pytest.mark.parametrize("delay", [0.0, 1.5])
def test_ctrl_c_early_is_a_message_not_a_traceback(tmp_path, delay):
    proc = subprocess.Popen([sys.executable, "-m", "lib", *GEN, "--output", str(tmp_path / "x.png")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until_importing_torch(proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted; nothing was written" in err
    assert "resume" not in err and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("verb", ["generate", "compare", "benchmark", "precompute"])
def test_each_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "--miniature" in out
    if verb != "generate":
        assert "--overwrite" in out


def test_compare_writes_side_by_sides_and_the_grid(tmp_path):
    assert main(["compare", "--miniature", "--random-weights", "--out", str(tmp_path)]) == 0
    record = load_record(tmp_path / "compare")
    assert record.source == "miniature" and len(record.items) == 10
    assert record.file("comparison_grid").is_file()
    assert len([k for k in record.files if k.startswith("side-")]) == 5
    made = record.items[0]["made"]
    assert made["device"]["device"] == "cpu" and made["build"].startswith("miniature-")
    assert made["versions"]["lib"] and made["versions"]["torch"]


def test_compare_with_another_seed_into_the_same_folder_is_refused_then_overwritten(tmp_path, capsys):
    assert main(["compare", "--miniature", "--random-weights", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["compare", "--miniature", "--random-weights", "--seed", "7", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "seed: 42 -> 7")
    assert {it["seed"] for it in load_record(tmp_path / "compare").items} == {42}  # nothing lost
    assert main(["compare", "--miniature", "--random-weights", "--seed", "7", "--out", str(tmp_path), "--overwrite"]) == 0
    assert {it["seed"] for it in load_record(tmp_path / "compare").items} == {7}


def test_benchmark_prints_the_table_and_never_mixes_step_counts(tmp_path, capsys):
    assert main(["benchmark", "--miniature", "--random-weights", "--steps", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "denoising_s" in out and "flux-schnell" in out and "sd3-medium" in out
    assert main(["benchmark", "--miniature", "--random-weights", "--steps", "2", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "not part of this run")
    assert main(["benchmark", "--miniature", "--random-weights", "--steps", "2", "--out", str(tmp_path), "--overwrite"]) == 0
    record = load_record(tmp_path / "benchmark")
    assert {r["steps"] for r in record.tables["benchmark"]} == {2} and len(record.items) == 2
    assert sorted(p.name for p in record.folder.glob("*.png")) == ["flux-schnell-2.png", "sd3-medium-2.png"]


def test_precompute_resumes_without_redoing_items_or_rewriting_their_provenance(tmp_path):
    argv = ["precompute", "--miniature", "--random-weights", "--out", str(tmp_path), "--only", "flux-step-sweep", "sd3-staged-vs-unstaged"]
    assert main(argv) == 0
    first = load_record(tmp_path / "flux-step-sweep")
    assert [i["config"]["steps"] for i in first.items] == [1, 2, 4, 8]
    path = first.path
    data = json.loads(path.read_text())
    data["items"][0]["made"]["device"].update(chip="Another CPU")  # as if another machine had made it
    data["complete"] = False  # and the run had been interrupted there
    path.write_text(json.dumps(data))
    assert main(argv) == 0
    again = load_record(tmp_path / "flux-step-sweep")
    assert [i["seconds"] for i in again.items] == [i["seconds"] for i in first.items]  # skipped, not rerun
    assert again.items[0]["made"]["device"]["chip"] == "Another CPU"  # provenance stays as made
    assert again.items[1]["made"] == first.items[1]["made"]
    assert again.complete
    data["items"][0]["made"]["device"]["device"] = "mps"  # made on a Mac's GPU: not a result of this CPU run
    path.write_text(json.dumps(data))
    assert main(argv) == 2
    assert main(["precompute", "--miniature", "--random-weights", "--out", str(tmp_path), "--only", "nope"]) == 2
