"""One way to build a run config, and flags that come from the dataclass (each default written once)."""
import dataclasses
import os

import pytest
from absl import flags

from tfgan_cifar import gans
from tfgan_cifar.lib import config as config_lib
from tfgan_cifar.lib.config import RunConfig
from tfgan_cifar.lib.errors import UsageError


def parsed(*argv):
    values = flags.FlagValues()
    config_lib.define_flags(flag_values=values)
    values(["train", *argv])
    return values


def test_every_flag_is_a_field_with_the_fields_default_type_and_help():
    values = parsed()
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    assert set(values) == {name for name, f in fields.items() if f.metadata["flag"]}
    for name in values:
        default = "" if name == "classes" else fields[name].default
        assert values[name].default == default, name
        assert values[name].help.endswith(fields[name].metadata["help"]), name  # absl prefixes enums' choices
    assert values["g_lr"].parser.flag_type() == "float" and values["resume"].parser.flag_type() == "bool"
    assert values["strategy"].parser.enum_values == list(config_lib.STRATEGIES)


def test_command_line_and_make_config_build_the_same_config():
    argv = ("--model=sagan", "--preset=", "--g_lr=3e-4", "--classes=1,3", "--epochs=2")
    from_flags = config_lib.config_from_flags(parsed(*argv), gans.VARIANTS)
    built = gans.make_config("sagan", g_lr=3e-4, classes=[1, 3], epochs=2)
    assert from_flags == built
    assert built.d_lr == 4e-4 and built.beta1 == 0.0 and built.loss == "hinge"  # the rest from sagan's preset


def test_precedence_is_defaults_then_preset_then_named_preset_then_overrides():
    config = gans.make_config("dcgan", "cpu_fast", width=40)
    assert config.width == 40  # override over the named preset's 48
    assert config.g_lr == 4e-4 and config.lr_decay == "linear"  # named preset over the published one
    assert config.beta1 == 0.5 and config.batch_size == 64  # published preset, RunConfig default
    assert gans.make_config("dcgan").width == 64


def test_turning_a_presets_decay_off_turns_off_its_start_too():
    """acgan's published rate is held for half the run, then decays: --lr_decay=none alone gives a constant
    rate (the preset's start goes with its decay); both given and contradicting is still refused."""
    published = gans.make_config("acgan")
    assert (published.lr_decay, published.lr_decay_start) == ("linear", 0.5)
    constant = gans.make_config("acgan", lr_decay="none")
    assert (constant.lr_decay, constant.lr_decay_start) == ("none", 0.0)
    assert gans.make_config("acgan", "seed").lr_decay == "none"  # the seed reports' recipe, as measured
    with pytest.raises(UsageError, match="--lr_decay_start needs --lr_decay=linear"):
        gans.make_config("acgan", lr_decay="none", lr_decay_start=0.5)


@pytest.mark.parametrize("model,overrides,needle", [
    ("nope", {}, "unknown model 'nope'"),
    ("dcgan", {"clip_value": 0.01}, "--clip_value does not apply to dcgan; it applies to: wgan"),
    ("dcgan", {"learning_rate": 1.0}, "unknown setting(s) learning_rate"),
    ("wgan_gp", {"norm": "batch"}, "choose one of: layer, instance, none"),
    ("wgan_gp", {"r1_weight": 10.0}, "--r1_weight does not apply to wgan_gp; it applies to: dcgan, mlp"),
    ("mlp", {"r1_weight": -1.0}, "--r1_weight must be a finite number >= 0, got -1.0"),
    ("acgan", {"g_class_confidence": 0.0}, "--g_class_confidence must be in (0, 1], got 0.0"),
    ("acgan", {"g_class_confidence": 1.5}, "--g_class_confidence must be in (0, 1], got 1.5"),
    ("acgan", {"class_loss": "adc", "g_class_confidence": 0.5}, "--class_loss=adc has its own loss, leave it at 1"),
    ("acgan", {"minibatch_std": -1}, "--minibatch_std must be >= 0, got -1"),
    ("dcgan", {"minibatch_std": 4}, "--minibatch_std does not apply to dcgan; it applies to: acgan"),
    ("acgan", {"minibatch_std_by_class": True}, "--minibatch_std_by_class orders the groups of --minibatch_std"),
    ("dcgan", {"features": "vgg"}, "--features must be one of evaluator, inception, got 'vgg'"),
    ("dcgan", {"lr_decay": "cosine"}, "--lr_decay must be one of none, linear, got 'cosine'"),
    ("dcgan", {"strategy": "ring"}, "--strategy must be one of default, mirrored, multiworker, tpu, got 'ring'"),
])
def test_bad_settings_are_one_sentence_errors(model, overrides, needle):
    with pytest.raises(UsageError) as e:
        gans.make_config(model, **overrides)
    assert needle in str(e.value)


def test_a_resumed_run_takes_only_resumable_settings_and_refuses_a_change_to_the_rest(tmp_path):
    saved = gans.make_config("acgan", epochs=2, run_dir=str(tmp_path))
    (tmp_path / "config.json").write_text(saved.to_json())
    resumed = config_lib.config_from_flags(parsed("--resume", f"--run_dir={tmp_path}", "--epochs=6",
                                                  "--fid_every=2", "--diffaugment=translation,cutout"), gans.VARIANTS)
    assert (resumed.epochs, resumed.fid_every, resumed.resume) == (6, 2, True)
    assert dataclasses.replace(resumed, epochs=2, fid_every=1, resume=False) == saved  # nothing else moved
    # The run's own command line again, named preset included, with --resume resumes it.
    named = gans.make_config("sketch2img", preset="seed", epochs=2, run_dir=str(tmp_path / "named"))
    os.makedirs(named.run_dir)
    (tmp_path / "named" / "config.json").write_text(named.to_json())
    again = config_lib.config_from_flags(parsed("--model=sketch2img", "--preset=seed", "--epochs=2", "--resume",
                                                f"--run_dir={named.run_dir}"), gans.VARIANTS)
    assert dataclasses.replace(again, resume=False) == named
    with pytest.raises(UsageError, match="cannot change --preset$"):
        config_lib.config_from_flags(parsed("--model=sketch2img", "--resume", f"--run_dir={named.run_dir}",
                                            "--preset=cpu_fast"), gans.VARIANTS)
    # A run setting (kind PRESETTABLE) and a hyper-parameter are the run's identity: refused, both named.
    with pytest.raises(UsageError, match="cannot change --diffaugment, --g_lr$"):
        config_lib.config_from_flags(parsed("--resume", f"--run_dir={tmp_path}", "--diffaugment=color", "--g_lr=1e-3"),
                                     gans.VARIANTS)


def hand_written_flags():
    """(module, flag name) of every flags.DEFINE_*("name", ...) call in the package."""
    import ast
    import pathlib
    root = pathlib.Path(config_lib.__file__).parents[1]
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr.startswith("DEFINE_") and node.args and isinstance(node.args[0], ast.Constant)):
                yield path.relative_to(root).as_posix(), node.args[0].value


def test_no_command_hand_writes_a_flag_that_is_a_run_config_field():
    written = list(hand_written_flags())
    assert ("serve.py", "port") in written and len(written) > 40  # the scan sees the commands' flags
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert [(module, name) for module, name in written if name in fields and module != "lib/config.py"] == []
