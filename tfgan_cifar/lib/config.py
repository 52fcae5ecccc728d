"""One run's configuration: a dataclass filled from absl flags on top of the variant's preset.

Precedence: `RunConfig` defaults < the variant's published preset (`gans.<variant>.PRESET`) < flags
given on the command line. Every value is validated here, before any work, with one-line errors.
"""
import dataclasses
import json
import os
import sys
import typing
from typing import Optional

from absl import flags

from tfgan_cifar.lib.errors import UsageError

IMAGE_SIZES = (32, 64)
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LR_DECAYS = ("none", "linear")
FEATURES = ("evaluator", "inception")
MAX_SANE_LR = 1e-2  # above it, validate() warns (Adam-trained GANs use 1e-5..1e-3)
# What a field is, in its metadata (`kind`): a hyper-parameter a variant may or may not use (default None:
# "take the variant's preset"; a variant's PRESET names the ones it uses and giving any other one is an error,
# e.g. --clip_value for dcgan); a run setting a named preset may set too; or any other setting.
HYPER, PRESETTABLE, OTHER = "hyper-parameter", "presettable", "other"


def setting(default, help, choices=None, flag=True, kind=OTHER, resumable=False):
    """A RunConfig field and its command-line flag in one: --name, with this default, type (the field's), help
    and, for `choices`, an enum flag. `flag=False`: recorded in config.json, not set from the command line.
    `kind`: HYPER, PRESETTABLE or OTHER. `resumable`: a resumed run may change it (everything else is the run's
    identity and stays as saved)."""
    return dataclasses.field(default=default, metadata=dict(help=help, choices=choices, flag=flag, kind=kind,
                                                            resumable=resumable))


def hyper(help):
    return setting(None, help, kind=HYPER)


@dataclasses.dataclass
class RunConfig:
    """Everything a run is made of. Hyper-parameters (kind HYPER) default to None: "take the variant's preset".
    Each field is a flag of the train command (define_flags) and of any other command that takes it, so each
    default, help and kind is written here only."""
    model: str = setting("dcgan", help="GAN variant to train (see README for the list).")
    dataset: str = setting("shapes", help="Dataset: 'shapes' (built-in, offline), 'cifar10' (TFDS, or the official "
        "python batches in --data_dir), or 'folder:PATH' (class sub-folders of images). Commands that score an "
        "export (evaluate) default to the dataset it was trained on.")
    data_dir: str = setting("data", resumable=True, help="Where datasets are downloaded/cached; also searched for "
        "cifar-10-batches-py/ or cifar-10-python.tar.gz.")
    image_size: int = setting(32, kind=PRESETTABLE, help="Training image size: 32 or 64 (images are resized).")
    classes: Optional[list] = setting(None, help="Train on a subset of classes, e.g. '3' or '0,1'. Empty: all "
        "classes.")
    examples: int = setting(20000, help="Number of training images generated for --dataset=shapes.")
    epochs: int = setting(10, kind=PRESETTABLE, resumable=True, help="Number of epochs (a preset may set its own).")
    batch_size: int = setting(64, kind=PRESETTABLE, help="Global batch size.")
    steps_per_epoch: int = setting(0, help="Steps per epoch; 0 means one pass over the training split.")
    seed: int = setting(0, help="Random seed (data order, latent vectors, initialisation).")
    run_dir: str = setting("", help="Run directory; default runs/<model>/<timestamp>. With --resume and no "
        "--run_dir, the newest run of --model is resumed. (export, results: the run to read.)")
    export_dir: str = setting("models", resumable=True, help="Exported generators go to <export_dir>/<model>/.")
    resume: bool = setting(False, help="Continue the run in --run_dir (or the newest one) from its last checkpoint.")
    overwrite: bool = setting(False, help="Train into a --run_dir that holds another run, deleting that run "
        "(without it, such a folder is refused).")
    jit_compile: bool = setting(False, resumable=True, help="Compile the train step with XLA.")
    log_every: int = setting(20, resumable=True, help="Steps between per-step TensorBoard scalars.")
    keep_checkpoints: int = setting(3, resumable=True, help="How many recent checkpoints to keep.")
    ckpt_every: int = setting(500, resumable=True,
        help="Also checkpoint every N steps within an epoch (a killed run loses at most "
        "N steps; --resume continues at the exact data position); 0: at epoch ends only.")
    deterministic: bool = setting(False, resumable=True,
        help="Use deterministic TF ops, so a run (and a killed-and-resumed run) "
        "gives bit-identical weights for the same seed; slower.")
    strategy: str = setting("default", resumable=True, choices=STRATEGIES, help="tf.distribute "
        "strategy: default (one device), mirrored (every visible GPU), multiworker (hosts from TF_CONFIG), tpu. "
        "--batch_size is global.")
    sync_bn: bool = setting(False, help="Synchronised batch norm: statistics over the global batch under "
        "--strategy.")
    precision: str = setting("auto", kind=PRESETTABLE, choices=PRECISIONS, help="Compute "
        "dtype policy. auto: mixed_bfloat16 where this machine runs it faster (GPU with compute capability 8.0+, "
        "CPU with AMX-BF16, or a CPU with AVX512-BF16 where timed steps say so), else float32. Losses, the "
        "gradient penalty and spectral norm stay float32; mixed_float16 adds dynamic loss scaling.")
    precision_reason: str = setting("", flag=False, help="Why --precision=auto chose what it did (config.json).")
    ema: float = setting(0.0, kind=PRESETTABLE,
        help="Keep an exponential moving average of the generator's weights with this decay "
        "(e.g. 0.999) and use it for grids, FID and export; 0: off.")
    diffaugment: str = setting("", kind=PRESETTABLE,
        help="DiffAugment policies applied to every image D sees, comma-separated from: "
        "color, translation, cutout. Empty: none.")
    nan_patience: int = setting(10, resumable=True,
        help="Stop after this many consecutive steps with non-finite losses or "
        "gradients (such updates are never applied); the run's best judged epoch is exported, else the previous "
        "export stays.")
    time_budget: float = setting(0.0, resumable=True,
        help="Stop training after this many seconds (then checkpoint and export); 0 "
        "means no limit.")
    lr_decay: str = setting("none", kind=PRESETTABLE, choices=LR_DECAYS, help="Learning-rate schedule of both "
        "networks: none, or linear: from --g_lr/--d_lr down to 0 at the end of the run (--epochs, or "
        "--time_budget seconds when that ends it first; a resumed run's budget clock starts again).")
    lr_decay_start: float = setting(0.0, kind=PRESETTABLE,
        help="With --lr_decay=linear: the share of the run (0 to <1) trained at "
        "the base rates before the decay to 0 begins; 0 decays from the first step.")
    fid_every: int = setting(1, resumable=True,
        help="Watch sample quality every N epochs: the sliced Wasserstein distance always, "
        "FID/IS/KID too where an evaluator is trained; the best epoch (on FID and SWD together, else SWD) is exported to "
        "<export_dir>/<model>/best/; 0 turns it off.")
    fid_samples: int = setting(2560, resumable=True, help="Generated images per quality check during training.")
    stop_on_collapse: bool = setting(False, resumable=True,
        help="End the run when a quality figure (SWD, FID, intra-class diversity) "
        "has been well off its second best so far for two checks running (a warning is printed either way).")
    features: str = setting("evaluator", resumable=True, choices=FEATURES,
        help="Feature extractor for FID/IS/KID: 'evaluator' (the project's "
        "classifier for the dataset, offline; make evaluator) or 'inception' (TF-Hub Inception v3).")
    inception_path: str = setting("", resumable=True, help="A local copy of TF-GAN's Inception SavedModel, for offline "
        "--features=inception.")
    nz: Optional[int] = hyper(help="Latent dimension (preset: 100).")
    width: Optional[int] = hyper(help="Base channel width of both networks (preset: 64; "
        "mlp: units of the narrowest hidden layer, 256).")
    g_lr: Optional[float] = hyper(help="Generator learning rate (preset per variant).")
    d_lr: Optional[float] = hyper(help="Discriminator/critic learning rate (preset per variant).")
    beta1: Optional[float] = hyper(help="Adam beta1 (preset per variant).")
    beta2: Optional[float] = hyper(help="Adam beta2 (preset per variant).")
    n_critic: Optional[int] = hyper(help="Critic steps per generator step (Wasserstein variants).")
    gp_weight: Optional[float] = hyper(help="Gradient-penalty weight lambda (gradient-penalty variants).")
    r1_weight: Optional[float] = hyper(help="dcgan/mlp: weight gamma of the R1 penalty gamma/2 * "
        "E||grad_x D(x)||^2 on real images in D's loss (Mescheder et al., 2018); 0 turns it off.")
    clip_value: Optional[float] = hyper(help="Critic weight clipping bound c (wgan).")
    loss: Optional[str] = hyper(help="Adversarial loss where a variant offers a choice.")
    norm: Optional[str] = hyper(help="Critic normalisation where a variant offers a choice: dcgan "
        "batch|spectral|none; wgan_gp, cgan, sketch2img none|layer|instance.")
    label_smoothing: Optional[float] = hyper(help="One-sided label smoothing of real labels for BCE "
        "discriminators.")
    conditioning: Optional[str] = hyper(help="How the label enters: sagan's discriminator "
        "projection|concat; acgan's generator multiply (z times a label embedding), concat (z, embedding) or cbn "
        "(class-conditional batch norm).")
    g_spectral_norm: Optional[bool] = hyper(help="Spectral normalisation in the generator too (sagan).")
    simultaneous: Optional[bool] = hyper(help="dcgan/mlp: one generator and critic pass on the fakes serves "
        "both losses (G's gradient taken before D's update) instead of alternating updates; ~1/3 less compute.")
    sketches: Optional[str] = hyper(help="sketch2img: 'paired' (each image's own edges) or 'unpaired' (the "
        "edges of another image of the same class).")
    l1_weight: Optional[float] = hyper(help="sketch2img: weight of the L1 distance to the paired image in "
        "G's loss.")
    upsample: Optional[str] = hyper(help="sketch2img: decoder upsampling, 'transpose' or 'bilinear'.")
    noise: Optional[str] = hyper(help="sketch2img: generator noise, 'dropout' or 'z' (a noise channel), both "
        "in training only; 'latent' (a random vector per image, in sampling too: one sketch gives many images); or 'none'.")
    edge_threshold: Optional[float] = hyper(help="sketch2img: edge strength (0..1 of each image's maximum) "
        "that becomes a stroke.")
    edge_blur: Optional[bool] = hyper(help="sketch2img: soften the extracted strokes with a 3x3 blur.")
    class_fake_weight: Optional[float] = hyper(help="acgan: weight of D's class loss on generated images "
        "(1: the original; 0: the classifier learns from real images only).")
    g_class_weight: Optional[float] = hyper(help="acgan: weight of the class loss in G's loss.")
    d_class_weight: Optional[float] = hyper(help="acgan: weight of the class loss in D's loss (its generated-image part "
        "also scaled by --class_fake_weight).")
    class_loss: Optional[str] = hyper(help="acgan: the auxiliary classifier's loss, 'ce' (softmax cross-entropy, "
        "the original), 'd2dce' (ReACGAN's data-to-data cross-entropy on normalised embeddings and class proxies), "
        "'tac' (ce plus TAC-GAN's twin classifier on generated images, whose cross-entropy G maximises) or 'adc' "
        "(ADC-GAN's one classifier over 2K classes, real and generated images of each class; G moves its images "
        "from the generated class of their label to the real one).")
    mode_seeking_weight: Optional[float] = hyper(help="acgan: weight of MSGAN's mode-seeking term in G's loss "
        "(Mao et al., 2019): 1 / (d_image / d_z + 1e-5), d the mean absolute difference of two draws z1, z2 of one "
        "label and of their images, so that G cannot map different z to one image of a class; 0 turns it off.")
    g_class_confidence: Optional[float] = hyper(help="acgan (--class_loss=ce or tac): the probability of its label "
        "at which D's classifier has recognised a generated image: G's class loss is mean(max(CE - log(1/p), 0)), so "
        "recognised images are not pushed further toward the classifier's most confident ones (1: always, the original).")
    minibatch_std: Optional[int] = hyper(help="acgan: ProGAN's minibatch standard deviation in D, over groups of this "
        "many images (Karras et al., 2018): one more feature map before D's heads, the spread of each group's "
        "features, so that D can tell a batch of look-alike images from a varied one; 0 turns it off.")
    minibatch_std_by_class: Optional[bool] = hyper(help="acgan, with --minibatch_std: each batch is put in an order in "
        "which every group holds images of one class (where the batch has enough of it), so that the spread D sees is "
        "a within-class one.")
    sketch_dir: Optional[str] = setting("", kind=HYPER,
        help="sketch2img: your own sketches, a folder mirroring --dataset=folder:PATH "
        "(same class folders and file names); default: edges of the images.")
    preset: str = setting("", help="A named preset of the variant on top of its published one (see README), e.g. "
        "--model=sketch2img --preset=seed.")

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json_file(cls, path):
        """The RunConfig saved at `path`; UsageError for a missing, truncated or foreign file."""
        try:
            with open(path) as f:
                values = json.load(f)
        except FileNotFoundError:
            raise UsageError(f"{path} does not exist: not a training run folder")
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"{path} is unreadable (truncated or not JSON: {e}); the run cannot be resumed or "
                             f"exported from it")
        if not isinstance(values, dict) or "model" not in values:
            raise UsageError(f"{path} is not a tfgan_cifar run config")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _fields(**metadata):
    return tuple(f.name for f in dataclasses.fields(RunConfig)
                 if all(f.metadata[key] == value for key, value in metadata.items()))


HYPERPARAMS = _fields(kind=HYPER)
PRESET_RUN_SETTINGS = _fields(kind=PRESETTABLE)  # run settings (not hyper-parameters) a named preset may set too
# steps_per_epoch is not resumable: epoch boundaries and the data position are computed from it.
RESUME_MAY_CHANGE = set(_fields(resumable=True))


def parse_classes(text):
    """'3' -> [3]; '0,1' -> [0, 1]; '' or 'all' -> None."""
    if text is None or str(text).strip() in ("", "all"):
        return None
    try:
        classes = sorted({int(c) for c in str(text).split(",") if c.strip()})
    except ValueError:
        raise UsageError(f"--classes must be comma-separated class indices like 3 or 0,1, got {text!r}")
    if not classes:
        raise UsageError(f"--classes names no class: {text!r}")
    return classes


def fill_predated(config, variants):
    """A run saved before one of its variant's hyper-parameters existed holds None for it; the code then did
    what the variant's PREDATED value says, or else (a new knob's default kept the old behaviour) its PRESET
    value, so that is its value, e.g. when such a run is resumed, exported or recorded. Returns `config`."""
    cls = variants.get(config.model)
    for name, value in dict(cls.PRESET, **cls.PREDATED).items() if cls else ():
        if getattr(config, name) is None:
            setattr(config, name, value)
    return config


def validate(config, variants):
    """Raise UsageError with one sentence for the first impossible value. `variants` maps name -> class."""
    if config.model not in variants:
        raise UsageError(f"unknown model {config.model!r}; choose one of: {', '.join(sorted(variants))}")
    from tfgan_cifar.lib import augment, data# local import: they import tensorflow, config must stay light
    data.parse_dataset(config.dataset)  # raises for an unknown dataset spec
    checks = [
        (config.image_size in IMAGE_SIZES, f"--image_size must be one of {IMAGE_SIZES}, got {config.image_size}"),
        (1 <= config.batch_size <= 4096, f"--batch_size must be in 1..4096, got {config.batch_size}"),
        (config.epochs >= 1, f"--epochs must be >= 1, got {config.epochs}"),
        (config.steps_per_epoch >= 0, f"--steps_per_epoch must be >= 0, got {config.steps_per_epoch}"),
        (config.examples >= config.batch_size,
         f"--examples ({config.examples}) must be at least --batch_size ({config.batch_size})"),
        (config.log_every >= 1, f"--log_every must be >= 1, got {config.log_every}"),
        (config.fid_every >= 0, f"--fid_every must be >= 0, got {config.fid_every}"),
        (config.fid_samples >= 100, f"--fid_samples must be >= 100, got {config.fid_samples}"),
        (config.time_budget >= 0, f"--time_budget must be >= 0, got {config.time_budget}"),
        (0 <= config.lr_decay_start < 1, f"--lr_decay_start must be in [0, 1), got {config.lr_decay_start}"),
        (config.lr_decay != "none" or not config.lr_decay_start, "--lr_decay_start needs --lr_decay=linear"),
        (not (config.lr_decay != "none" and config.time_budget and config.strategy == "multiworker"),
         "--lr_decay with --time_budget needs one clock; under --strategy=multiworker each worker has its own, "
         "so decay over --epochs there (drop --time_budget)"),
        (config.nan_patience >= 1, f"--nan_patience must be >= 1, got {config.nan_patience}"),
        (config.ema == 0 or 0.5 <= config.ema < 1, f"--ema must be 0 (off) or in [0.5, 1), got {config.ema}"),
        (config.ckpt_every >= 0, f"--ckpt_every must be >= 0, got {config.ckpt_every}"),
        (config.keep_checkpoints >= 1, f"--keep_checkpoints must be >= 1, got {config.keep_checkpoints}"),
        (config.classes is None or all(c >= 0 for c in config.classes),
         f"--classes must be non-negative, got {config.classes}"),
    ]
    for field in dataclasses.fields(RunConfig):  # every field with a fixed set of values (--features, --strategy, ...)
        choices, value = field.metadata["choices"], getattr(config, field.name)
        checks.append((not choices or value in choices,
                       f"--{field.name} must be one of {', '.join(choices or ())}, got {value!r}"))
    for name in ("g_lr", "d_lr", "gp_weight", "clip_value"):
        value = getattr(config, name)
        checks.append((value is None or 0 < value < float("inf"), f"--{name} must be a finite number > 0, got {value}"))
    for name in ("class_fake_weight", "g_class_weight", "d_class_weight", "r1_weight", "mode_seeking_weight"):
        value = getattr(config, name)
        checks.append((value is None or 0 <= value < float("inf"), f"--{name} must be a finite number >= 0, got {value}"))
    checks.append((config.g_class_confidence is None or 0 < config.g_class_confidence <= 1,
                   f"--g_class_confidence must be in (0, 1], got {config.g_class_confidence}"))
    for name in ("beta1", "beta2", "label_smoothing"):
        value = getattr(config, name)
        checks.append((value is None or 0 <= value < 1, f"--{name} must be in [0, 1), got {value}"))
    for name, low in (("nz", 1), ("width", 8), ("n_critic", 1), ("minibatch_std", 0)):
        value = getattr(config, name)
        checks.append((value is None or value >= low, f"--{name} must be >= {low}, got {value}"))
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    augment.parse_policy(config.diffaugment)
    variants[config.model].validate_config(config)
    for name in ("g_lr", "d_lr"):
        value = getattr(config, name)
        if value is not None and value > MAX_SANE_LR:
            print(f"warning: --{name}={value:g} is far above the usual range of GAN learning rates (1e-5 to "
                  f"{MAX_SANE_LR:g}); training will likely diverge", file=sys.stderr)


def variant_preset(cls, name=""):
    """A variant's published preset, with its named preset `name` (e.g. sketch2img's `seed`) on top."""
    named = cls.__dict__.get("NAMED_PRESETS", {})  # a variant's own, not inherited
    if name and name not in named:
        raise UsageError(f"--preset={name} is not a preset of {cls.NAME}"
                         + (f"; choose one of: {', '.join(named)}" if named else " (it has none)"))
    return dict(cls.PRESET, **named.get(name, {}))


def apply_preset(config, preset, explicit, variants=None):
    """Fill hyper-parameters from the variant's preset; refuse explicit ones the variant does not use."""
    for name in HYPERPARAMS:
        if name in explicit and name not in preset:
            where = sorted(v for v, cls in (variants or {}).items() if name in cls.PRESET)
            raise UsageError(f"--{name} does not apply to {config.model}"
                             + (f"; it applies to: {', '.join(where)}" if where else ""))
        if name not in explicit:
            setattr(config, name, preset.get(name))
    for name in PRESET_RUN_SETTINGS:
        if name in preset and name not in explicit:
            setattr(config, name, preset[name])
    return config


# ---------------------------------------------------------------------------------------------
# Flags, generated from the fields: a command takes all of them (train) or a group.

DATA_SETTINGS = ("dataset", "data_dir", "image_size", "classes", "examples")
FEATURE_SETTINGS = ("features", "inception_path")


def define_flags(names=None, flag_values=flags.FLAGS):
    """Define an absl flag for each RunConfig field that is one (or for the fields in `names`)."""
    for field in dataclasses.fields(RunConfig):
        if not field.metadata["flag"] or (names is not None and field.name not in names):
            continue
        kind = next((t for t in typing.get_args(field.type) if t is not type(None)), field.type)
        help_, choices = field.metadata["help"], field.metadata["choices"]
        if field.name == "classes":  # a list given as text: '3' or '0,1' (parse_classes)
            flags.DEFINE_string(field.name, "", help_, flag_values=flag_values)
        elif choices:
            flags.DEFINE_enum(field.name, field.default, list(choices), help_, flag_values=flag_values)
        else:
            define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float}.get(kind,
                                                                                                   flags.DEFINE_string)
            define(field.name, field.default, help_, flag_values=flag_values)


def define_train_flags():
    define_flags()


def build(variants, model, preset="", overrides=None):
    """The one way to make a run config (CLI, tools and tests): RunConfig defaults < the variant's published
    preset < its named `preset` < `overrides` (explicit settings; a hyper-parameter the variant does not use
    is refused). Validated; UsageError with one sentence for the first bad value."""
    overrides = dict(overrides or {})
    if model not in variants:
        raise UsageError(f"unknown model {model!r}; choose one of: {', '.join(sorted(variants))}")
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(f"unknown setting(s) {', '.join(unknown)}")
    config = RunConfig(model=model, preset=preset, **overrides)
    apply_preset(config, variant_preset(variants[model], preset), set(overrides), variants)
    if config.lr_decay == "none" and "lr_decay_start" not in overrides:
        config.lr_decay_start = 0.0  # a preset's decay start goes with its decay: --lr_decay=none turns off both
    validate(config, variants)
    return config


def config_from_flags(flag_values, variants):
    """Build and validate a RunConfig from parsed absl flags: the flags given are the overrides."""
    explicit = {name for name in flag_values if flag_values[name].present}
    fields = {f.name for f in dataclasses.fields(RunConfig) if f.metadata["flag"]}
    overrides = {name: flag_values[name].value for name in explicit & fields - {"model", "preset"}}
    if "classes" in overrides:
        overrides["classes"] = parse_classes(overrides["classes"])
    if flag_values.resume:  # the saved config already holds the resolved hyper-parameters
        given = RunConfig(model=flag_values.model, preset=flag_values.preset, **overrides)
        config = fill_predated(_resumed_config(given, explicit), variants)
        validate(config, variants)
        return config
    return build(variants, flag_values.model, flag_values.preset, overrides)


def _resumed_config(config, explicit):
    """The saved config of the run being resumed, with flags given now (e.g. more --epochs) on top."""
    run_dir = config.run_dir or latest_run_dir(config.model)
    if not run_dir or not os.path.exists(os.path.join(run_dir, "config.json")):
        raise UsageError(f"--resume: no run with a config.json found (looked in {run_dir or 'runs/' + config.model})")
    saved = RunConfig.from_json_file(os.path.join(run_dir, "config.json"))
    if "model" in explicit and config.model != saved.model:
        raise UsageError(f"--resume: {run_dir} is a {saved.model} run, not {config.model}; drop --model or give "
                         f"the --run_dir of a {config.model} run")
    for name in explicit & RESUME_MAY_CHANGE:
        setattr(saved, name, getattr(config, name))
    fixed = explicit - RESUME_MAY_CHANGE - {"model", "run_dir", "resume", "overwrite"}
    changed = sorted(n for n in fixed if getattr(config, n) != getattr(saved, n))
    if changed:
        raise UsageError(f"--resume keeps the run's settings; cannot change {', '.join('--' + n for n in changed)}")
    saved.run_dir, saved.resume = run_dir, True
    return saved


def latest_run_dir(model, root="runs"):
    base = os.path.join(root, model)
    if not os.path.isdir(base):
        return ""
    runs = sorted(d for d in os.listdir(base) if os.path.exists(os.path.join(base, d, "config.json")))
    return os.path.join(base, runs[-1]) if runs else ""
