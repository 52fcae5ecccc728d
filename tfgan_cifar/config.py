"""One run's configuration: a dataclass filled from absl flags on top of the variant's preset.

Precedence: `RunConfig` defaults < the variant's published preset (`gans.<variant>.PRESET`) < flags
given on the command line. Every value is validated here, before any work, with one-line errors.
"""
import dataclasses
import json
import os
import sys
from typing import Optional

from absl import flags

from tfgan_cifar.errors import UsageError

# Hyper-parameters a variant may or may not use. A variant's PRESET names the ones it uses; giving
# any other one on the command line is an error (e.g. --clip_value for dcgan).
HYPERPARAMS = ("nz", "width", "g_lr", "d_lr", "beta1", "beta2", "n_critic", "gp_weight", "clip_value",
               "loss", "norm", "label_smoothing", "conditioning", "g_spectral_norm", "sketches", "l1_weight",
               "upsample", "noise", "edge_threshold", "edge_blur", "simultaneous", "class_fake_weight")
IMAGE_SIZES = (32, 64)
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LR_DECAYS = ("none", "linear")
MAX_SANE_LR = 1e-2  # above it, validate() warns (Adam-trained GANs use 1e-5..1e-3)
# Run settings (not hyper-parameters) a named preset may set too.
PRESET_RUN_SETTINGS = ("batch_size", "image_size", "epochs", "precision", "ema", "diffaugment", "lr_decay",
                       "lr_decay_start")
# Settings a resumed run may change (everything else is the run's identity and stays as saved).
# steps_per_epoch is not among them: epoch boundaries and the data position are computed from it.
RESUME_MAY_CHANGE = {"epochs", "strategy", "log_every", "keep_checkpoints", "ckpt_every", "deterministic", "export_dir",
                     "jit_compile", "data_dir", "time_budget", "nan_patience", "fid_every", "fid_samples", "features",
                     "inception_path"}


@dataclasses.dataclass
class RunConfig:
    model: str = "dcgan"
    dataset: str = "shapes"
    data_dir: str = "data"
    image_size: int = 32
    classes: Optional[list] = None  # None: every class; else a subset of class indices
    examples: int = 20000  # size of the generated `shapes` training split
    epochs: int = 10
    batch_size: int = 64
    steps_per_epoch: int = 0  # 0: one pass over the training split
    seed: int = 0
    run_dir: str = ""
    export_dir: str = "models"
    resume: bool = False
    overwrite: bool = False  # train into a run folder that holds another run, replacing it
    jit_compile: bool = False
    log_every: int = 20  # steps between TensorBoard scalar writes
    keep_checkpoints: int = 3
    ckpt_every: int = 500  # steps between checkpoints (and one at each epoch end); 0: epoch ends only
    deterministic: bool = False  # deterministic TF ops: bit-reproducible runs and resumes, somewhat slower
    strategy: str = "default"  # tf.distribute: default | mirrored | multiworker | tpu
    sync_bn: bool = False  # batch-norm statistics over the global batch under tf.distribute
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16 (auto: see precision.py)
    precision_reason: str = ""  # why --precision=auto chose what it did (written into config.json)
    ema: float = 0.0  # decay of the generator's exponential moving average; 0: off
    diffaugment: str = ""  # DiffAugment policies, e.g. "color,translation,cutout"
    nan_patience: int = 10  # consecutive non-finite steps before training stops
    time_budget: float = 0.0  # seconds of training after which the run stops and exports; 0: no limit
    lr_decay: str = "none"  # none | linear: both learning rates fall linearly to 0 at the end of the run
    lr_decay_start: float = 0.0  # share of the run at the base rates before the linear decay begins
    fid_every: int = 1  # epochs between FID evaluations; 0: off
    fid_samples: int = 2560
    features: str = "evaluator"
    inception_path: str = ""
    # Hyper-parameters; None means "not used by this variant".
    nz: Optional[int] = None
    width: Optional[int] = None
    g_lr: Optional[float] = None
    d_lr: Optional[float] = None
    beta1: Optional[float] = None
    beta2: Optional[float] = None
    n_critic: Optional[int] = None
    gp_weight: Optional[float] = None
    clip_value: Optional[float] = None
    loss: Optional[str] = None
    norm: Optional[str] = None
    label_smoothing: Optional[float] = None
    conditioning: Optional[str] = None
    g_spectral_norm: Optional[bool] = None
    simultaneous: Optional[bool] = None
    sketches: Optional[str] = None
    l1_weight: Optional[float] = None
    upsample: Optional[str] = None
    noise: Optional[str] = None
    edge_threshold: Optional[float] = None
    edge_blur: Optional[bool] = None
    class_fake_weight: Optional[float] = None
    sketch_dir: str = ""  # sketch2img: user sketches mirroring a folder: dataset
    preset: str = ""  # a named preset of the variant (e.g. sketch2img's `seed`) over its published one

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


def validate(config, variants):
    """Raise UsageError with one sentence for the first impossible value. `variants` maps name -> class."""
    if config.model not in variants:
        raise UsageError(f"unknown model {config.model!r}; choose one of: {', '.join(sorted(variants))}")
    from tfgan_cifar import augment, data  # local import: they import tensorflow, config must stay light
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
        (config.features in ("evaluator", "inception"),
         f"--features must be evaluator or inception, got {config.features!r}"),
        (config.time_budget >= 0, f"--time_budget must be >= 0, got {config.time_budget}"),
        (config.lr_decay in LR_DECAYS, f"--lr_decay must be one of {', '.join(LR_DECAYS)}, got {config.lr_decay!r}"),
        (0 <= config.lr_decay_start < 1, f"--lr_decay_start must be in [0, 1), got {config.lr_decay_start}"),
        (config.lr_decay != "none" or not config.lr_decay_start, "--lr_decay_start needs --lr_decay=linear"),
        (not (config.lr_decay != "none" and config.time_budget and config.strategy == "multiworker"),
         "--lr_decay with --time_budget needs one clock; under --strategy=multiworker each worker has its own, "
         "so decay over --epochs there (drop --time_budget)"),
        (config.nan_patience >= 1, f"--nan_patience must be >= 1, got {config.nan_patience}"),
        (config.strategy in STRATEGIES, f"--strategy must be one of {', '.join(STRATEGIES)}, got {config.strategy!r}"),
        (config.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}"),
        (config.ema == 0 or 0.5 <= config.ema < 1, f"--ema must be 0 (off) or in [0.5, 1), got {config.ema}"),
        (config.ckpt_every >= 0, f"--ckpt_every must be >= 0, got {config.ckpt_every}"),
        (config.keep_checkpoints >= 1, f"--keep_checkpoints must be >= 1, got {config.keep_checkpoints}"),
        (config.classes is None or all(c >= 0 for c in config.classes),
         f"--classes must be non-negative, got {config.classes}"),
    ]
    for name in ("g_lr", "d_lr", "gp_weight", "clip_value"):
        value = getattr(config, name)
        checks.append((value is None or 0 < value < float("inf"), f"--{name} must be a finite number > 0, got {value}"))
    checks.append((config.class_fake_weight is None or config.class_fake_weight >= 0,
                   f"--class_fake_weight must be >= 0, got {config.class_fake_weight}"))
    for name in ("beta1", "beta2", "label_smoothing"):
        value = getattr(config, name)
        checks.append((value is None or 0 <= value < 1, f"--{name} must be in [0, 1), got {value}"))
    for name, low in (("nz", 1), ("width", 8), ("n_critic", 1)):
        value = getattr(config, name)
        checks.append((value is None or value >= low, f"--{name} must be >= {low}, got {value}"))
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    augment.parse_policy(config.diffaugment)
    if config.sketch_dir and not variants[config.model].needs_sketches:
        raise UsageError(f"--sketch_dir applies only to sketch2img, not {config.model}")
    if config.sketch_dir and not config.dataset.startswith("folder:"):
        raise UsageError("--sketch_dir mirrors an image folder: use it with --dataset=folder:PATH")
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
# Flags. Defaults of hyper-parameter flags are None: "take the variant's preset".

def define_data_flags():
    flags.DEFINE_string("dataset", "shapes", "Dataset: 'shapes' (built-in, offline), 'cifar10' (TFDS, or the "
                        "official python batches in --data_dir), or 'folder:PATH' (class sub-folders of images).")
    flags.DEFINE_string("data_dir", "data", "Where datasets are downloaded/cached; also searched for "
                        "cifar-10-batches-py/ or cifar-10-python.tar.gz.")
    flags.DEFINE_integer("image_size", 32, "Training image size: 32 or 64 (images are resized).")
    flags.DEFINE_string("classes", "", "Train on a subset of classes, e.g. '3' or '0,1'. Empty: all classes.")
    flags.DEFINE_integer("examples", 20000, "Number of training images generated for --dataset=shapes.")


def define_feature_flags():
    flags.DEFINE_string("features", "evaluator", "Feature extractor for FID/IS/KID: 'evaluator' (the project's "
                        "classifier for the dataset, offline; make evaluator) or 'inception' (TF-Hub Inception v3).")
    flags.DEFINE_string("inception_path", "", "A local copy of TF-GAN's Inception SavedModel, for offline "
                        "--features=inception.")


def define_train_flags():
    define_data_flags()
    flags.DEFINE_string("model", "dcgan", "GAN variant to train (see README for the list).")
    flags.DEFINE_integer("epochs", 10, "Number of epochs.")
    flags.DEFINE_integer("batch_size", 64, "Global batch size.")
    flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch; 0 means one pass over the training split.")
    flags.DEFINE_integer("seed", 0, "Random seed (data order, latent vectors, initialisation).")
    flags.DEFINE_string("run_dir", "", "Run directory; default runs/<model>/<timestamp>. With --resume and no "
                        "--run_dir, the newest run of --model is resumed.")
    flags.DEFINE_string("export_dir", "models", "Exported generators go to <export_dir>/<model>/.")
    flags.DEFINE_bool("resume", False, "Continue the run in --run_dir (or the newest one) from its last checkpoint.")
    flags.DEFINE_bool("overwrite", False, "Train into a --run_dir that holds another run, deleting that run (without "
                      "it, such a folder is refused).")
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy: default (one device), "
                      "mirrored (every visible GPU), multiworker (hosts from TF_CONFIG), tpu. --batch_size is global.")
    flags.DEFINE_bool("sync_bn", False, "Synchronised batch norm: statistics over the global batch under --strategy.")
    flags.DEFINE_enum("precision", "auto", list(PRECISIONS), "Compute dtype policy. auto: mixed_bfloat16 where "
                      "this machine runs it faster (GPU with compute capability 8.0+, CPU with AMX-BF16, or a CPU with "
                      "AVX512-BF16 where timed steps say so), else float32. Losses, the gradient penalty and spectral "
                      "norm stay float32; mixed_float16 adds dynamic loss scaling.")
    flags.DEFINE_float("ema", 0.0, "Keep an exponential moving average of the generator's weights with this decay "
                       "(e.g. 0.999) and use it for grids, FID and export; 0: off.")
    flags.DEFINE_string("diffaugment", "", "DiffAugment policies applied to every image D sees, comma-separated "
                        "from: color, translation, cutout. Empty: none.")
    flags.DEFINE_integer("log_every", 20, "Steps between per-step TensorBoard scalars.")
    flags.DEFINE_integer("keep_checkpoints", 3, "How many recent checkpoints to keep.")
    flags.DEFINE_integer("ckpt_every", 500, "Also checkpoint every N steps within an epoch (a killed run loses at "
                         "most N steps; --resume continues at the exact data position); 0: at epoch ends only.")
    flags.DEFINE_bool("deterministic", False, "Use deterministic TF ops, so a run (and a killed-and-resumed run) "
                      "gives bit-identical weights for the same seed; slower.")
    flags.DEFINE_integer("nan_patience", 10, "Stop after this many consecutive steps with non-finite losses or "
                         "gradients (such updates are never applied); the last good checkpoint is exported.")
    flags.DEFINE_integer("fid_every", 1, "Evaluate FID/IS/KID every N epochs (and export the best epoch to "
                         "<export_dir>/<model>/best/); 0 turns it off.")
    flags.DEFINE_integer("fid_samples", 2560, "Generated images per FID evaluation during training.")
    define_feature_flags()
    flags.DEFINE_float("time_budget", 0.0, "Stop training after this many seconds (then checkpoint and export); "
                       "0 means no limit.")
    flags.DEFINE_enum("lr_decay", "none", list(LR_DECAYS), "Learning-rate schedule of both networks: none, or "
                      "linear: from --g_lr/--d_lr down to 0 at the end of the run (--epochs, or --time_budget seconds "
                      "when that ends it first; a resumed run's budget clock starts again).")
    flags.DEFINE_float("lr_decay_start", 0.0, "With --lr_decay=linear: the share of the run (0 to <1) trained at the "
                       "base rates before the decay to 0 begins; 0 decays from the first step.")
    flags.DEFINE_integer("nz", None, "Latent dimension (preset: 100).")
    flags.DEFINE_integer("width", None, "Base channel width of both networks (preset: 64).")
    flags.DEFINE_float("g_lr", None, "Generator learning rate (preset per variant).")
    flags.DEFINE_float("d_lr", None, "Discriminator/critic learning rate (preset per variant).")
    flags.DEFINE_float("beta1", None, "Adam beta1 (preset per variant).")
    flags.DEFINE_float("beta2", None, "Adam beta2 (preset per variant).")
    flags.DEFINE_integer("n_critic", None, "Critic steps per generator step (Wasserstein variants).")
    flags.DEFINE_float("gp_weight", None, "Gradient-penalty weight lambda (gradient-penalty variants).")
    flags.DEFINE_float("clip_value", None, "Critic weight clipping bound c (wgan).")
    flags.DEFINE_string("loss", None, "Adversarial loss where a variant offers a choice.")
    flags.DEFINE_string("norm", None, "Critic normalisation where a variant offers a choice: dcgan batch|spectral|none; "
                        "wgan_gp, cgan, sketch2img none|layer|instance.")
    flags.DEFINE_bool("simultaneous", None, "dcgan/mlp: one generator and critic pass on the fakes serves both "
                      "losses (G's gradient taken before D's update) instead of alternating updates; ~1/3 less compute.")
    flags.DEFINE_float("label_smoothing", None, "One-sided label smoothing of real labels for BCE discriminators.")
    flags.DEFINE_string("conditioning", None, "How the discriminator sees the label (sagan): projection|concat.")
    flags.DEFINE_bool("g_spectral_norm", None, "Spectral normalisation in the generator too (sagan).")
    flags.DEFINE_string("preset", "", "A named preset of the variant on top of its published one (see README), "
                        "e.g. --model=sketch2img --preset=seed.")
    flags.DEFINE_string("sketches", None, "sketch2img: 'paired' (each image's own edges) or 'unpaired' (the edges "
                        "of another image of the same class).")
    flags.DEFINE_string("sketch_dir", "", "sketch2img: your own sketches, a folder mirroring --dataset=folder:PATH "
                        "(same class folders and file names); default: edges of the images.")
    flags.DEFINE_float("l1_weight", None, "sketch2img: weight of the L1 distance to the paired image in G's loss.")
    flags.DEFINE_string("upsample", None, "sketch2img: decoder upsampling, 'transpose' or 'bilinear'.")
    flags.DEFINE_string("noise", None, "sketch2img: generator noise in training, 'dropout', 'z' (a noise channel) "
                        "or 'none'.")
    flags.DEFINE_float("edge_threshold", None, "sketch2img: edge strength (0..1 of each image's maximum) that "
                       "becomes a stroke.")
    flags.DEFINE_bool("edge_blur", None, "sketch2img: soften the extracted strokes with a 3x3 blur.")
    flags.DEFINE_float("class_fake_weight", None, "acgan: weight of D's class loss on generated images (1: the "
                       "original; 0: the classifier learns from real images only).")


def config_from_flags(flag_values, variants):
    """Build and validate a RunConfig from parsed absl flags."""
    explicit = {name for name in flag_values if flag_values[name].present}
    config = RunConfig()
    for field in dataclasses.fields(RunConfig):
        if field.name in flag_values and field.name != "classes":
            setattr(config, field.name, flag_values[field.name].value)
    config.classes = parse_classes(flag_values.classes)
    if config.resume:  # the saved config already holds the resolved hyper-parameters
        config = _resumed_config(config, explicit)
    elif config.model in variants:
        apply_preset(config, variant_preset(variants[config.model], config.preset), explicit, variants)
    validate(config, variants)
    return config


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
    fixed = explicit & (set(HYPERPARAMS) | {"dataset", "image_size", "classes", "batch_size", "seed", "examples",
                                               "steps_per_epoch"})
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
