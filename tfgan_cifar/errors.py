"""Errors raised at the edges, and the CLI runner that turns them into one line and exit code 2."""
import sys


class UsageError(Exception):
    """Bad input from the user: a flag, a file, a dataset. Reported as one line, exit code 2."""


class TrainingDiverged(Exception):
    """Training stopped by the NaN guard. Reported as one line, exit code 1."""


class DataError(UsageError):
    """A dataset that is missing, corrupt or unusable."""


def run(main):
    """absl `app.run` with one-line errors: bad flags or UsageError -> stderr line, exit 2, no traceback."""
    from absl import app, flags, logging

    logging.set_verbosity(logging.WARNING)  # TF's savers log INFO lines through absl
    import logging as std_logging
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)  # deprecation notices from TF-GAN internals

    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            sys.stderr.write(f"error: {e}\n")
            sys.exit(2)

    def guarded(argv):
        if len(argv) > 1:
            raise UsageError(f"unexpected positional arguments: {' '.join(argv[1:])}")
        return main(argv)

    try:
        app.run(guarded, flags_parser=parse)
    except UsageError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except TrainingDiverged as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(1)
