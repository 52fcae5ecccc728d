"""The quality monitor: collapse warnings from a figure's history, which epoch becomes the export, and the
atomic promotion of the best-epoch export."""
import glob
import json
import os

import pytest
import tensorflow as tf

from conftest import tiny_config
from tfgan_cifar import gans
from tfgan_cifar.lib import callbacks, savedmodel


class Model:
    stop_training = False


def monitor(tmp_path, stop=False):
    m = callbacks.QualityMonitor(None, None, None, None, 1, 10, lambda *a: None, str(tmp_path), stop_on_collapse=stop)
    m.set_model(Model())
    return m


def warnings(tmp_path):
    return callbacks.read_jsonl(os.path.join(tmp_path, callbacks.WARNINGS_FILE))


def test_a_figure_well_off_its_best_two_checks_running_is_a_collapse_warned_once(tmp_path, capsys):
    m = monitor(tmp_path)
    for epoch, swd in enumerate([10.0, 8.0, 7.0, 12.0, 13.0, 14.0], 1):
        m.history.append(dict(epoch=epoch, swd=swd))
        m.watch_collapse(epoch)
        if epoch == 4:  # one check over 7 / 0.7 = 10: not yet
            assert warnings(tmp_path) == []
    [warning] = warnings(tmp_path)  # epochs 4 and 5 off the best (7, epoch 3); epoch 6 continues the streak
    assert (warning["epoch"], warning["figure"], warning["value"], warning["best"], warning["best_epoch"]) == \
        (5, "swd", 13.0, 7.0, 3)
    assert "warning: collapse at epoch 5: swd 13.000 against its best 7.000 (epoch 3)" in capsys.readouterr().out
    assert not m.model.stop_training
    m.writer.flush()
    texts = [v.tag for path in glob.glob(str(tmp_path / "tensorboard" / "quality" / "events*"))
             for e in tf.compat.v1.train.summary_iterator(path) for v in e.summary.value]
    assert "collapse" in texts


def test_coverage_figures_collapse_downwards_and_can_stop_the_run(tmp_path):
    m = monitor(tmp_path, stop=True)
    for epoch, diversity in enumerate([0.6, 0.65, 0.5, 0.3, 0.2], 1):  # 0.5 is above 0.7 * 0.65
        m.history.append(dict(epoch=epoch, swd=5.0, intra_class_diversity=diversity))
        m.watch_collapse(epoch)
    [warning] = warnings(tmp_path)
    assert (warning["epoch"], warning["figure"], warning["best_epoch"]) == (5, "intra_class_diversity", 2)
    assert m.model.stop_training and "stopping" in warning["text"]


def test_the_export_is_the_best_epoch_unless_the_last_is_as_good(tmp_path):
    m = monitor(tmp_path)
    m.best, m.best_epoch, m.last_judged = 3.0, 4, (6, 5.0)
    assert m.outcome(6) == (4, "the best by SWD: 3.000 against 5.000 for the last epoch, 6")
    m.last_judged = (6, 3.0)  # as good: the last epoch
    assert m.outcome(6)[0] == 6
    m.best_epoch, m.last_judged = 6, (6, 3.0)
    assert m.outcome(6) == (6, "the last epoch is the best by SWD (3.000)")
    m.last_judged = (5, 3.0)  # the last epoch was not checked: kept, and said
    assert m.outcome(6)[0] == 6 and "not checked" in m.outcome(6)[1]


def test_promote_makes_the_best_export_the_main_one_and_keeps_it(tmp_path):
    gan = gans.build(tiny_config("dcgan"))
    path = str(tmp_path / "dcgan")
    savedmodel.save_generator(gan, os.path.join(path, savedmodel.BEST), dict(epoch=1, best_by="swd", model="dcgan"))
    savedmodel.save_generator(gan, path, dict(epoch=3, model="dcgan"))
    assert json.load(open(os.path.join(path, "tfgan_cifar.json")))["epoch"] == 3
    savedmodel.promote(path)
    main, best = (json.load(open(os.path.join(p, "tfgan_cifar.json"))) for p in (path, os.path.join(path, "best")))
    assert main["epoch"] == best["epoch"] == 1 and main["best_by"] == "swd"
    assert [n for n in os.listdir(tmp_path) if not n.startswith(".")] == ["dcgan"]  # no copy left beside it
    loaded = tf.saved_model.load(path)
    assert loaded.signatures["serving_default"](z=tf.zeros([2, gan.nz]))["images"].shape == (2, 32, 32, 3)
