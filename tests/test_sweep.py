"""make sweep: the grid parser and a 2-run sweep on shapes whose ranked table follows its metrics."""
import io
import json

import pytest

from tfgan_cifar.tools import sweep
from tfgan_cifar.lib.errors import UsageError


def test_grid_expands_into_every_typed_combination():
    grid = sweep.parse_grid("g_lr=1e-4,2e-4 d_lr=2e-4,4e-4 ema=0,0.999 sync_bn=true")
    assert grid == {"g_lr": [1e-4, 2e-4], "d_lr": [2e-4, 4e-4], "ema": [0.0, 0.999], "sync_bn": [True]}
    combos = sweep.expand(grid)
    assert len(combos) == 8 and len({sweep.slug(c) for c in combos}) == 8
    assert combos[0] == {"g_lr": 1e-4, "d_lr": 2e-4, "ema": 0.0, "sync_bn": True}
    assert {(c["g_lr"], c["d_lr"], c["ema"]) for c in combos} == {
        (g, d, e) for g in (1e-4, 2e-4) for d in (2e-4, 4e-4) for e in (0.0, 0.999)}
    assert sweep.expand(sweep.parse_grid("n_critic=1,2,3"))[2] == {"n_critic": 3}
    assert isinstance(sweep.expand(sweep.parse_grid("n_critic=1"))[0]["n_critic"], int)


@pytest.mark.parametrize("text,needle", [
    ("lr=1e-4", "unknown or fixed key 'lr'"),
    ("epochs=1,2", "unknown or fixed key 'epochs'"),
    ("n_critic=two", "n_critic='two' is not a valid int"),
    ("g_lr=fast", "is not a valid float"),
    ("sync_bn=maybe", "not a valid bool"),
    ("g_lr", "look like name=v1,v2"),
    ("g_lr=1e-4 g_lr=2e-4", "twice"),
    ("", "GRID is empty"),
])
def test_bad_grids_are_refused(text, needle):
    with pytest.raises(UsageError, match=needle):
        sweep.parse_grid(text)


def test_a_key_the_variant_does_not_use_is_refused_before_any_run(tmp_path):
    with pytest.raises(UsageError, match="--clip_value does not apply to dcgan"):
        sweep.run_sweep("dcgan", sweep.parse_grid("clip_value=0.01,0.02"), 1, root=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_two_run_sweep_writes_a_table_ranked_by_its_metrics(evaluator_root, monkeypatch, tmp_path):
    monkeypatch.chdir(evaluator_root)
    grid = sweep.parse_grid("width=8 batch_size=16 g_lr=1e-4,2e-3")
    out = io.StringIO()
    rows = sweep.run_sweep("dcgan", grid, budget=4, data_dir=str(tmp_path / "data"), root=str(tmp_path / "sweep"),
                           samples=200, examples=256, out=out)
    results = [json.load(open(tmp_path / "sweep" / name / "result.json")) for name in
               ("width=8,batch_size=16,g_lr=0.0001", "width=8,batch_size=16,g_lr=0.002")]
    assert all(r["steps"] >= 1 for r in results)
    ranked = sorted(results, key=lambda r: r["fid"])
    assert [r["name"] for r in rows] == [r["name"] for r in ranked]
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert table.index(ranked[0]["name"]) < table.index(ranked[1]["name"])
    assert f"{ranked[0]['fid']:.3f}" in table and f"best: {ranked[0]['command']}" in out.getvalue()
    again = sweep.run_sweep("dcgan", grid, budget=4, data_dir=str(tmp_path / "data"), root=str(tmp_path / "sweep"),
                            samples=200, examples=256, out=io.StringIO())  # resumable: nothing retrained
    assert [r["fid"] for r in again] == [r["fid"] for r in rows]
