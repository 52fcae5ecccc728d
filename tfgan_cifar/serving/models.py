"""What is served: every export under a folder, each version loaded by `tf.saved_model.load` alone, kept up to
date with the disk the way TF Serving's file-system source does it (--file_system_poll_wait_seconds).

Layouts under --models_dir:
  <name>/saved_model.pb          this project's export: version 1 (its best epoch, <name>/best/, is <name>_best)
  <name>/<N>/saved_model.pb      TF Serving's model base path: versions N; every version that loads is served,
                                 the highest by default; one that fails to load is logged and skipped
  <name>/labels.json             optional {"stable": 1, "canary": 2}: TF Serving's version_labels; a label may
                                 only name a version that is being served (TF Serving's rule)

`ModelStore.poll()` compares the disk with what is loaded: new or rewritten versions are loaded beside the
serving ones and swapped in by one assignment, so a request in flight finishes on the version it started with
and none is dropped; versions gone from disk are unloaded; every change is one log line.
"""
import json
import os
import threading
import time

from tfgan_cifar.lib.errors import UsageError

LABELS_FILE = "labels.json"


class Served:
    """One loaded version of one model: its serving signatures and metadata."""

    def __init__(self, name, path, version):
        from tfgan_cifar.lib import savedmodel
        self.name, self.path, self.version = name, path, version
        # A reader: never put back an export another process has renamed aside mid-write (savedmodel.recover).
        self.loaded, self.meta = savedmodel.load(path, repair=False)
        self.signatures = dict(self.loaded.signatures)
        self.loaded_at = time.time()

    def input_specs(self, key):
        return self.signatures[key].structured_input_signature[1]

    def main_input(self):
        """The generator's first input (the export's `inputs`): "z" for models the page can sample."""
        return self.meta["inputs"][0]


def fingerprint(path):
    """Changes whenever the export at `path` is rewritten or still being copied: the inode, time and size of
    saved_model.pb and of every file under variables/ (a version copied in place is retried when complete)."""
    files, variables = ["saved_model.pb"], os.path.join(path, "variables")
    if os.path.isdir(variables):
        files += [os.path.join("variables", f) for f in sorted(os.listdir(variables))]
    stats = [os.stat(os.path.join(path, f)) for f in files]
    return tuple((f, s.st_ino, s.st_mtime_ns, s.st_size) for f, s in zip(files, stats))


def discover(models_dir):
    """{name: {version: path}} of the exports under models_dir, and {name: labels file} where there is one."""
    from tfgan_cifar.lib import savedmodel
    if not os.path.isdir(models_dir):
        raise UsageError(f"--models_dir {models_dir!r} is not a folder; train and export a model first (make demo)")
    found, labels = {}, {}
    for entry in sorted(os.listdir(models_dir)):
        folder = os.path.join(models_dir, entry)
        if entry.startswith(".") or savedmodel.is_temporary(entry) or not os.path.isdir(folder):
            continue
        if os.path.exists(os.path.join(folder, "saved_model.pb")):
            found[entry] = {1: folder}
            if os.path.exists(os.path.join(folder, "best", "saved_model.pb")):
                found[f"{entry}_best"] = {1: os.path.join(folder, "best")}
            continue
        versions = {int(v): os.path.join(folder, v) for v in os.listdir(folder)
                    if v.isdigit() and os.path.exists(os.path.join(folder, v, "saved_model.pb"))}
        if versions:
            found[entry] = versions
            if os.path.exists(os.path.join(folder, LABELS_FILE)):
                labels[entry] = os.path.join(folder, LABELS_FILE)
    return found, labels


class Model:
    """The served versions of one name (an immutable snapshot: the store swaps whole Models)."""

    def __init__(self, name, versions, failed=None, labels=None):
        self.name, self.versions = name, dict(versions)  # {version: Served}
        self.failed = dict(failed or {})  # {version: one-line reason}: on disk, not loadable
        self.labels = dict(labels or {})  # {label: version}

    def latest(self):
        return self.versions[max(self.versions)]

    def version(self, version=None, label=None):
        """The Served of a version, a label, or (neither) the highest version: TF Serving's errors otherwise."""
        from tfgan_cifar.serving.common import BadRequest
        if label is not None:
            if label not in self.labels:
                raise BadRequest(f"Unrecognized servable version label: {label}")
            version = self.labels[label]
        if not self.versions:
            raise BadRequest(f"no version of {self.name} loads: " + "; ".join(
                f"version {v}: {why}" for v, why in sorted(self.failed.items())), 404)
        if version is None:
            return self.latest()
        if version not in self.versions:
            raise BadRequest(f"Servable not found for request: Specific({self.name}, {version}); serving versions "
                             f"{', '.join(map(str, sorted(self.versions)))}", 404)
        return self.versions[version]


class ModelStore:
    """Every model under `models_dir`, reloaded from disk by poll() (by a thread every `poll_seconds`)."""

    def __init__(self, models_dir, log=print):
        self.models_dir, self.log = models_dir, log
        self.models = {}  # {name: Model}; replaced whole, never changed in place
        self._fingerprints = {}  # {(name, version): fingerprint of what is loaded or failed}
        self._label_lines = {}  # {name: what read_labels said last}: said again only when it changes
        self._lock = threading.Lock()  # one poll at a time
        self._stop = threading.Event()
        self.poll(initial=True)
        if not any(model.versions for model in self.models.values()):
            raise UsageError(f"no exported generator under {models_dir!r}; train one first (make demo)")

    def __getitem__(self, name):
        from tfgan_cifar.serving.common import BadRequest
        models = self.models
        if name not in models:
            raise BadRequest(f"model {name!r} not found; serving: {', '.join(sorted(models))}", 404)
        return models[name]

    def __iter__(self):
        return iter(sorted(self.models.items()))

    def poll(self, initial=False):
        """Bring the served models in line with the disk; returns the lines it logged."""
        with self._lock:
            found, label_files = discover(self.models_dir)
            lines, models = [], {}
            for name, paths in found.items():
                old = self.models.get(name) or Model(name, {})
                versions, failed = {}, {}
                for version, path in sorted(paths.items()):
                    try:
                        print_ = fingerprint(path)
                    except OSError:  # removed between listing and reading
                        continue
                    key = (name, version)
                    if self._fingerprints.get(key) == print_:  # unchanged: keep what we have
                        if version in old.versions:
                            versions[version] = old.versions[version]
                        elif version in old.failed:
                            failed[version] = old.failed[version]
                        continue
                    try:
                        versions[version] = Served(name, path, version)
                    except Exception as e:  # noqa: BLE001 - a broken version is skipped, never fatal
                        failed[version] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                        kept = old.versions.get(version)
                        if kept:  # rewritten with something broken: the loaded one goes on serving
                            versions[version] = kept
                        lines.append(f"skipping {name} version {version} ({path}): {failed[version]}"
                                     + (f"; still serving the one loaded at {time.strftime('%H:%M:%S', time.localtime(kept.loaded_at))}"
                                        if kept else ""))
                    else:
                        lines.append(f"loaded {name} version {version} from {path}" if initial or version not in
                                     old.versions else f"reloaded {name} version {version} (changed on disk) from {path}")
                    self._fingerprints[key] = print_
                if versions or failed:
                    labels, label_lines = read_labels(name, label_files.get(name), versions, old.labels)
                    lines += [line for line in label_lines if line not in self._label_lines.get(name, ())]
                    self._label_lines[name] = label_lines
                    models[name] = Model(name, versions, failed, labels)
            from tfgan_cifar.lib import savedmodel
            for name, model in self.models.items():
                now = models.get(name, Model(name, {}))
                for version in sorted(set(model.versions) - set(now.versions)):
                    if savedmodel.being_replaced(model.versions[version].path):
                        # an exporter is between its two renames: the loaded one serves until the new one is there
                        now = models[name] = Model(name, {**now.versions, version: model.versions[version]},
                                                   now.failed, now.labels or model.labels)
                    else:
                        lines.append(f"unloaded {name} version {version} (gone from disk)")
            gone = {key for key in self._fingerprints if key[1] not in found.get(key[0], {})}
            for key in gone:
                del self._fingerprints[key]
            self.models = models  # the swap: one assignment
        for line in lines:
            self.log(line)
        return lines

    def watch(self, poll_seconds):
        """Poll every `poll_seconds` in a daemon thread until stop(); 0 does not watch."""
        def loop():
            while not self._stop.wait(poll_seconds):
                try:
                    self.poll()
                except Exception as e:  # noqa: BLE001 - a failed poll (models_dir gone) must not end serving
                    self.log(f"poll of {self.models_dir} failed: {type(e).__name__}: {e}")
        if poll_seconds > 0:
            threading.Thread(target=loop, daemon=True, name="model-poll").start()

    def stop(self):
        self._stop.set()


def read_labels(name, path, versions, previous):
    """{label: version} from <name>/labels.json, each label on a served version; (labels, log lines)."""
    if path is None:
        return {}, []
    try:
        with open(path, encoding="utf-8") as f:
            given = json.load(f)
        if not isinstance(given, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in given.values()):
            raise ValueError('expected {"label": version number, ...}')
    except (OSError, ValueError) as e:
        return previous, [f"ignoring {path} (the labels stay as they were): {e}"]
    labels, lines = {}, []
    for label, version in given.items():
        if version in versions:
            labels[label] = version
        else:  # TF Serving's rule: a label only moves to a version already available
            lines.append(f"label {label!r} of {name} names version {version}, which is not being served; "
                         + (f"it stays on version {previous[label]}" if previous.get(label) in versions else "ignored"))
            if previous.get(label) in versions:
                labels[label] = previous[label]
    if labels != previous:
        lines.append(f"{name} labels: " + (", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"))
    return labels, lines
