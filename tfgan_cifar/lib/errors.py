"""Errors raised at the edges, and the CLI runner that turns them into one line and an exit code:
2 for bad input (flags, files, data), 1 for the environment (storage, a busy folder, divergence), 130 for Ctrl-C."""
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


class Busy(Exception):
    """A run folder or export target locked by another process. Reported as one line, exit code 1."""


class Interrupted(Exception):
    """Ctrl-C during training, with where it stopped and how to resume. Reported as one line, exit code 130."""


def run(main):
    """absl `app.run` with one-line errors: bad flags or UsageError -> stderr line, exit 2, no traceback."""
    from absl import app, flags, logging

    logging.set_verbosity(logging.WARNING)  # TF's savers log INFO lines through absl
    import logging as std_logging
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)  # deprecation notices from TF-GAN internals

    if "verbose" not in flags.FLAGS:
        flags.DEFINE_bool("verbose", False, "Show TensorFlow's native start-up log lines (hidden by default unless "
                          "TF_CPP_MIN_LOG_LEVEL is set).")

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
    except (TrainingDiverged, StorageError, Busy) as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(1)
    except Interrupted as e:
        sys.stderr.write(f"{e}\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as e:  # a write that failed for lack of space or permission, outside training
        is_tf_error = any(c.__name__ == "OpError" for c in type(e).__mro__)
        reason = storage_failure(e) if isinstance(e, OSError) or is_tf_error else None
        if reason is None:
            raise
        sys.stderr.write(f"error: cannot write {getattr(e, 'filename', None) or 'the output'}: {reason}\n")
        sys.exit(1)
