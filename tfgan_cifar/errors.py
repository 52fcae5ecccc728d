"""Errors raised at the edges, and the CLI runner that turns them into one line and exit code 2."""
import sys


class UsageError(Exception):
    """Bad input from the user: a flag, a file, a dataset. Reported as one line, exit code 2."""


class TrainingDiverged(Exception):
    """Training stopped by the NaN guard. Reported as one line, exit code 1."""


class StorageError(Exception):
    """A write failed for lack of space or permission. Reported as one line, exit code 1."""


# How a write that failed for storage reasons reads, in OSError strings and TF's error messages.
STORAGE_FAILURES = ("No space left on device", "File too large", "Disk quota exceeded", "Read-only file system",
                    "Permission denied")


def storage_failure(error):
    """The storage reason of an OSError or tf.errors.OpError (e.g. 'No space left on device'), else None."""
    text = f"{getattr(error, 'strerror', '') or ''} {error}"
    return next((reason for reason in STORAGE_FAILURES if reason in text), None)


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
    except (TrainingDiverged, StorageError) as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(1)
