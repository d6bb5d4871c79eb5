"""`python -m lib`: every verb runs on the miniatures; bad input exits 2 with a one-line message."""

import subprocess
import sys

import pytest
from PIL import Image

from lib.cli import main
from lib.records import load_record


def test_generate_writes_a_64px_png(tmp_path, capsys):
    out = tmp_path / "cat.png"
    assert main(["generate", "--miniature", "--model", "sd3-medium", "--drop-t5", "--prompt", "a cat",
                 "--steps", "2", "--output", str(out)]) == 0
    assert Image.open(out).size == (64, 64)
    assert "miniature model" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, says",
    [
        (["--model", "sdxl"], "known models: sd3-medium, flux-schnell"),
        (["--height", "50"], "multiple of 16"),
        (["--steps", "0"], "steps must be an integer >= 1"),
        (["--model", "flux-schnell", "--guidance", "3.5"], "guidance-distilled"),
        (["--model", "flux-schnell", "--quantization", "Q9"], "unknown quantization"),
        (["--prompt", ""], "prompt is empty"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_message(args, says, tmp_path, capsys):
    argv = ["generate", "--miniature", "--prompt", "a cat", "--output", str(tmp_path / "x.png"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err


def test_module_entry_point_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "lib", "generate", "--miniature", "--model", "nope", "--prompt", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "known models" in proc.stderr


@pytest.mark.parametrize("verb", ["generate", "compare", "benchmark", "precompute"])
def test_each_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0 and "--miniature" in capsys.readouterr().out


def test_compare_writes_side_by_sides_and_the_grid(tmp_path):
    assert main(["compare", "--miniature", "--out", str(tmp_path)]) == 0
    record = load_record(tmp_path / "compare")
    assert record["source"] == "miniature" and len(record["items"]) == 10
    assert (tmp_path / "compare" / "comparison_grid.png").is_file()
    assert len([k for k in record["files"] if k.startswith("side-")]) == 5


def test_benchmark_prints_the_table(tmp_path, capsys):
    assert main(["benchmark", "--miniature", "--steps", "1", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "denoising_s" in out and "flux-schnell" in out and "sd3-medium" in out
    assert len(load_record(tmp_path / "benchmark")["tables"]["benchmark"]) == 4


def test_precompute_writes_records_and_resumes_without_redoing_items(tmp_path):
    argv = ["precompute", "--miniature", "--out", str(tmp_path), "--only", "flux-step-sweep", "sd3-staged-vs-unstaged"]
    assert main(argv) == 0
    first = load_record(tmp_path / "flux-step-sweep")
    assert [i["config"]["steps"] for i in first["items"]] == [1, 2, 4, 8]
    assert main(argv) == 0
    again = load_record(tmp_path / "flux-step-sweep")
    assert [i["seconds"] for i in again["items"]] == [i["seconds"] for i in first["items"]]  # skipped, not rerun
    assert main(["precompute", "--miniature", "--out", str(tmp_path), "--only", "nope"]) == 2
