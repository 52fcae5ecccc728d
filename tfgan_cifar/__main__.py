"""`tfgan-cifar COMMAND [--flags]` (or `python -m tfgan_cifar COMMAND`): dispatch to python -m tfgan_cifar.COMMAND."""
import runpy
import sys

COMMANDS = ("train", "export", "sample", "evaluate", "evaluator", "serve", "report", "results", "sweep", "bench",
            "bench_quality", "bench_quality_cifar")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(f"usage: tfgan-cifar {{{'|'.join(COMMANDS)}}} [--flags]  (--help on a command lists them)\n")
        sys.exit(2)
    command = sys.argv.pop(1)
    sys.argv[0] = f"tfgan-cifar {command}"
    runpy.run_module(f"tfgan_cifar.{command}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
