"""tools.tradeoff: two metrics of every record as fractions of its own real floor, the frontier, the goal's box."""
import json

import numpy as np
import pytest

from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.tools import tradeoff


def record(name, model, acc, div, floor_acc=0.9, floor_div=1.0):
    return dict(name=name, model=model, class_accuracy=acc, intra_class_diversity=div,
                real_floor=dict(class_accuracy=floor_acc, intra_class_diversity=floor_div))


@pytest.fixture
def files(tmp_path):
    a, b = tmp_path / "levers.json", tmp_path / "longer.json"
    a.write_text(json.dumps({"runs": [record("base", "acgan", 0.72, 0.5), record("tac", "acgan", 0.36, 0.7),
                                      record("dc", "dcgan", None, None), record("dom", "acgan", 0.45, 0.4),
                                      record("zero", "acgan", 0.18, 0.0)]}))
    # another evaluator: another floor, so its figures are read against it
    b.write_text(json.dumps({"runs": [record("long", "acgan", 0.88, 0.66, floor_acc=0.88, floor_div=1.1),
                                      dict(record("nofloor", "acgan", 0.8, 0.8), real_floor={})]}))
    return str(a), str(b)


def test_points_are_each_records_figures_over_its_own_floor(files):
    found = tradeoff.points(files, "class_accuracy", "intra_class_diversity", models=["acgan"])
    assert [(s, n) for s, n, *_ in found] == [("levers", "base"), ("levers", "tac"), ("levers", "dom"),
                                              ("levers", "zero"), ("longer", "long")]
    np.testing.assert_allclose([p[2:4] for p in found], [[0.8, 0.5], [0.4, 0.7], [0.5, 0.4], [0.2, 0.0], [1.0, 0.6]])
    assert {p[4] for p in found} == {"acgan"}
    # without a model filter the unconditional record (no class accuracy) is still left out
    assert len(tradeoff.points(files, "class_accuracy", "intra_class_diversity")) == 5


def test_the_frontier_is_the_points_nothing_beats_on_both_axes(files):
    found = tradeoff.points(files, "class_accuracy", "intra_class_diversity", models=["acgan"])
    # base (0.8, 0.5) is beaten by long (1.0, 0.6); dom and zero by base
    assert [p[1] for p in tradeoff.frontier(found)] == ["tac", "long"]
    tie = [("f", "a", 0.5, 0.5, "m"), ("f", "b", 0.5, 0.5, "n"), ("f", "c", 0.5, 0.4, "m")]
    assert [p[1] for p in tradeoff.frontier(tie)] == ["a", "b"]  # equal points do not beat each other; c is beaten


def test_a_name_two_files_share_is_labelled_with_its_file():
    found = [("levers", "tac", 0.4, 0.7, "acgan"), ("longer", "tac", 0.5, 0.6, "acgan"), ("longer", "base", 0.9, 0.5, "acgan")]
    assert [tradeoff.label(p, found) for p in found] == ["tac (levers)", "tac (longer)", "base"]


def test_each_file_has_a_colour_and_each_model_a_marker_named_only_when_there_are_several():
    found = [("zoo", "a", 0.4, 0.7, "acgan"), ("zoo", "c", 0.5, 0.6, "cgan"), ("longer", "a", 0.9, 0.5, "acgan")]
    assert [(legend, colour, marker, [p[1] for p in mine]) for legend, colour, marker, mine in tradeoff.series(found)] \
        == [("zoo: acgan", "C0", "o", ["a"]), ("zoo: cgan", "C0", "s", ["c"]), ("longer: acgan", "C1", "o", ["a"])]
    assert [legend for legend, *_ in tradeoff.series([p for p in found if p[4] == "acgan"])] == ["zoo", "longer"]


def test_the_goal_is_two_fractions_and_bad_ones_are_refused():
    assert tradeoff.parse_goal("0.9,0.8") == (0.9, 0.8)
    assert tradeoff.parse_goal("") is None
    for bad in ("0.9", "0.9,1.2", "a,b", "0,0.8"):
        with pytest.raises(UsageError, match="--goal takes two fractions"):
            tradeoff.parse_goal(bad)


def test_the_plot_shades_the_goals_box(files, tmp_path):
    from PIL import Image
    found = tradeoff.points(files, "class_accuracy", "intra_class_diversity", models=["acgan"])
    plain, shaded = str(tmp_path / "plain.png"), str(tmp_path / "goal.png")
    tradeoff.plot(plain, found, "class_accuracy", "intra_class_diversity")
    tradeoff.plot(shaded, found, "class_accuracy", "intra_class_diversity", goal=(0.9, 0.8),
                  floors=[("blurred", 0.6, 0.6)])  # a damaged real set outside the box leaves the box as it was
    a, b = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in (plain, shaded))
    # the box's fill: tab:green (44, 160, 44) at alpha 0.15 over white
    fill = np.array([255 - 0.15 * (255 - 44), 255 - 0.15 * (255 - 160), 255 - 0.15 * (255 - 44)])
    in_fill = [np.abs(img - fill).max(-1) <= 2 for img in (a, b)]
    assert in_fill[0].sum() == 0 and in_fill[1].mean() > 0.005
    ys, xs = np.nonzero(in_fill[1])  # the upper right of the axes: x >= 0.9, y >= 0.8 of ranges from 0 to ~1.05
    assert ys.mean() < 0.35 * b.shape[0] and xs.mean() > 0.7 * b.shape[1]


def test_damaged_real_images_are_read_over_their_files_real_row(tmp_path):
    from tfgan_cifar.lib.judges import DAMAGED
    from tfgan_cifar.tools.floors import REAL
    blurred, shrunk = list(DAMAGED)[0], list(DAMAGED)[2]
    floors = tmp_path / "floors.json"
    sets = {REAL: dict(class_accuracy=0.8, intra_class_diversity=0.5), blurred: dict(class_accuracy=0.4,
            intra_class_diversity=0.4), shrunk: dict(class_accuracy=0.2, intra_class_diversity=None),
            "dcgan samples": dict(class_accuracy=0.6, intra_class_diversity=0.45)}  # a generated set: not drawn
    floors.write_text(json.dumps({"sets": sets}))
    assert tradeoff.damaged(str(floors), "class_accuracy", "intra_class_diversity") == [(blurred, 0.5, 0.8)]
    floors.write_text(json.dumps({"sets": {blurred: sets[blurred]}}))
    with pytest.raises(UsageError, match="has no class_accuracy and intra_class_diversity"):
        tradeoff.damaged(str(floors), "class_accuracy", "intra_class_diversity")
