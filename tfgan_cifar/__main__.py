"""`tfgan-cifar COMMAND [--flags]` (or `python -m tfgan_cifar COMMAND`): runs a command (python -m
tfgan_cifar.COMMAND) or a tool (python -m tfgan_cifar.tools.TOOL)."""
import runpy
import sys

COMMANDS = ("train", "export", "sample", "evaluate", "train_evaluator", "serve", "demo")
TOOLS = ("report", "results", "tradeoff", "sweep", "zoo", "bench", "bench_quality", "bench_quality_cifar", "floors",
         "docs", "tensorboard_shot")


def module_of(name):
    return f"tfgan_cifar.{name}" if name in COMMANDS else f"tfgan_cifar.tools.{name}"


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS + TOOLS:
        sys.stderr.write(f"usage: tfgan-cifar {{{'|'.join(COMMANDS + TOOLS)}}} [--flags]  (--help on a command lists "
                         f"them)\n")
        sys.exit(2)
    command = sys.argv.pop(1)
    sys.argv[0] = f"tfgan-cifar {command}"
    runpy.run_module(module_of(command), run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
