"""make docs: every generated block of README.md and docs/*.md, written from its one source.

    python -m tfgan_cifar.tools.docs            # rewrite the blocks that differ
    python -m tfgan_cifar.tools.docs --check    # exit 1 naming the blocks that differ (a test runs this)

Blocks are marked in the markdown: `<!-- variants -->` ... `<!-- /variants -->` holds the variant table made
from each variant's SUMMARY and PRESET (gans.markdown_table); `<!-- flags -->` the train flags, from RunConfig's
fields (flags_table); `<!-- results: docs/results/X.json -->` ...
`<!-- /results -->` the table of that results file (tools/results.markdown_table), grid links relative to the
markdown file; `<!-- results: docs/results/X.json baseline=NAME -->` adds what each judge says of every row
against record NAME. Everything between marks is replaced; everything outside them is left as written.
"""
import dataclasses
import glob
import os
import re
import sys

from absl import flags

# A block never spans another block's marks, and may be empty (a new block before its first update).
MARK = re.compile(r"(<!-- (?P<kind>results|variants|flags)"
                  r"(?:: (?P<path>[^ ]+)(?: baseline=(?P<baseline>[^ ]+))?)? -->\n)"
                  r"(?P<body>(?:(?!<!-- /?(?:results|variants|flags))[\s\S])*?)\n?(?P<end><!-- /(?P=kind) -->)")


def flags_table():
    """Every train flag: its RunConfig field's default, kind, whether a resume may change it, and help."""
    from tfgan_cifar.lib.config import HYPER, PRESETTABLE, RunConfig
    shown = lambda value: ("off" if value is False else "on" if value is True else "none" if value in (None, "")
                           else f"{value:g}" if isinstance(value, float) else str(value))
    kinds = {HYPER: "hyper-parameter", PRESETTABLE: "a preset may set it"}
    rows = ["| flag | default | kind | a resume may change it | what it does |", "| --- | --- | --- | --- | --- |"]
    for field in dataclasses.fields(RunConfig):
        if field.metadata["flag"]:
            text = field.metadata["help"] + (f" One of: {', '.join(field.metadata['choices'])}."
                                             if field.metadata["choices"] else "")
            default = "the variant's preset" if field.metadata["kind"] == HYPER else shown(field.default)
            rows.append(f"| `--{field.name}` | {default} | {kinds.get(field.metadata['kind'], '')} | "
                        f"{'yes' if field.metadata['resumable'] else ''} | {text.replace('|', '/')} |")
    return "\n".join(rows)


def documents(root="."):
    return [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))


def render(markdown_path, root="."):
    """(the file's text with every block regenerated, [names of its blocks])."""
    from tfgan_cifar import gans
    from tfgan_cifar.tools.results import markdown_table
    with open(markdown_path) as f:
        text = f.read()
    names = []

    def block(match):
        if match["kind"] in ("variants", "flags"):
            names.append(match["kind"])
            body = gans.markdown_table() if match["kind"] == "variants" else flags_table()
        else:
            names.append(match["path"])
            path = os.path.join(root, match["path"])
            grid_dir = os.path.relpath(os.path.dirname(os.path.abspath(path)),
                                       os.path.dirname(os.path.abspath(markdown_path)))
            body = markdown_table(path, grid_dir, match["baseline"])
        return match.group(1) + body + "\n" + match["end"]
    return MARK.sub(block, text), names


def update(markdown_path, root="."):
    """Rewrite the file's blocks; returns the names of its blocks (whether or not they changed)."""
    text, names = render(markdown_path, root)
    with open(markdown_path) as f:
        if f.read() != text:
            from tfgan_cifar.lib.images import atomic_write_bytes
            atomic_write_bytes(markdown_path, text.encode())
    return names


def stale(root="."):
    """The documents whose generated blocks differ from what `update` would write."""
    out = []
    for path in documents(root):
        with open(path) as f:
            if f.read() != render(path, root)[0]:
                out.append(path)
    return out


def main(argv):
    F = flags.FLAGS
    if F.check:
        differ = stale(F.root)
        for path in differ:
            print(f"{path}: a generated block differs from its source; run make docs")
        sys.exit(1 if differ else 0)
    for path in documents(F.root):
        names = update(path, F.root)
        if names:
            print(f"{path}: {', '.join(names)}")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    flags.DEFINE_bool("check", False, "Only check: exit 1 when a block differs from what would be written.")
    flags.DEFINE_string("root", ".", "The checkout whose README.md and docs/*.md to write.")
    run(main)
