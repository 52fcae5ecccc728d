"""GAN variants, registered by name. Each module in this package defines one variant with
`@register("name")` (base.py with its mixins sampling.py and exporting.py, and wasserstein.py hold what
variants share); importing the package imports
them all, so adding a variant -- even one whose generator needs a new input -- touches one file (docs/ARCHITECTURE.md,
"Add a variant")."""
import importlib
import pkgutil

VARIANTS = {}


def register(name):
    def wrap(cls):
        cls.NAME = name
        VARIANTS[name] = cls
        return cls
    return wrap


def make_config(model, preset="", **overrides):
    """A validated RunConfig of `model` (lib/config.py's build, with this registry): its published preset, the
    named `preset` over it, then `overrides`."""
    from tfgan_cifar.lib import config
    return config.build(VARIANTS, model, preset, overrides)


def saved_config(path):
    """The RunConfig a run saved at `path` (its config.json), completed for hyper-parameters it predates."""
    from tfgan_cifar.lib import config
    return config.fill_predated(config.RunConfig.from_json_file(path), VARIANTS)


def build(config, num_classes=10):
    """The GAN model for config.model (validated beforehand), its layers made under the --precision
    dtype policy (restored afterwards, so other models in the process are unaffected)."""
    import keras

    from tfgan_cifar.lib import precision
    precision.resolve(config)  # --precision=auto (train() resolves it earlier, before writing config.json)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(config.precision)
    try:
        return VARIANTS[config.model](config, num_classes=num_classes)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def _fmt(value):
    if value == "":  # a setting turned off (a named preset's diffaugment="") or an empty path
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown_table():
    """The README's variant table, generated from each variant's SUMMARY and PRESET (one source of truth)."""
    rows = ["| name | conditional | losses and architecture | preset (published defaults) |", "| --- | --- | --- | --- |"]
    for name in sorted(VARIANTS):
        cls = VARIANTS[name]
        preset = ", ".join(f"{k}={_fmt(v)}" for k, v in cls.PRESET.items() if v != "")  # "": an empty path
        for name_, values in cls.__dict__.get("NAMED_PRESETS", {}).items():
            preset += f"; `--preset={name_}`: " + ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        rows.append(f"| `{name}` | {'yes' if cls.conditional else 'no'} | {cls.SUMMARY} | {preset} |")
    return "\n".join(rows)
