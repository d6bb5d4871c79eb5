"""`python -m lib.shapes`: the validation table and the speed line print, and a wrong size is one clear line."""

from __future__ import annotations

from lib.shapes.__main__ import main
from lib.shapes.scene import CATEGORIES


def test_validate_prints_a_row_per_category_and_attribute(capsys):
    assert main(["validate", "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "clean" in out and "blur+noise" in out and "corrupted" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] and line.split()[0] in CATEGORIES]
    assert {r[0] for r in rows} == set(CATEGORIES)
    assert {"letter", "relation", "binding", "fill", "pattern", "light"} <= {r[1] for r in rows}


def test_speed_reports_images_per_second_and_a_bad_size_exits_2(capsys):
    assert main(["speed", "--n", "20"]) == 0
    assert "images/s" in capsys.readouterr().out
    assert main(["speed", "--n", "20", "--size", "30"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
