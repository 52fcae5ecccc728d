"""The package's rooms and the arrows between them, read from the source: no import cycles (lazy imports inside
functions count too), the library never imports a command or a tool, and every runnable module is a command
or a tool of `tfgan-cifar`."""
import ast
import os


from tfgan_cifar.__main__ import COMMANDS, TOOLS

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tfgan_cifar")


def modules():
    """{dotted module name: path} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), os.path.dirname(PACKAGE))[:-3].split(os.sep)
                found[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = os.path.join(folder, name)
    return found


def source(path):
    with open(path) as f:
        return f.read()


def imports_of(path, known):
    """The package modules `path` imports anywhere in it (`from a.b import c` names a.b.c where that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(source(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfgan_cifar"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.add(target if target in known else node.module)
    return found


def graph():
    known = modules()
    return {name: imports_of(path, known) - {name} for name, path in known.items()}


def find_cycle(edges):
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None


def test_no_import_cycles():
    assert find_cycle(graph()) is None


def room(module):
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] in ("lib", "gans", "serving", "tools"):
        return parts[1]
    return "commands"


# Who may import whom: the library is the bottom floor, variants build on it, commands on both, tools on all.
ALLOWED = {"lib": {"lib"}, "gans": {"lib", "gans"}, "serving": {"lib", "serving"},  # + the package face
           "commands": {"lib", "gans", "serving", "commands"}, "tools": {"lib", "gans", "serving", "commands", "tools"},
           "package": {"lib"}}
ALLOWED = {r: allowed | {"package"} for r, allowed in ALLOWED.items()}


def upward_arrows(edges):
    return sorted(f"{a} -> {b}" for a, targets in edges.items() for b in targets if room(b) not in ALLOWED[room(a)])


def test_rooms_import_only_downwards():
    assert upward_arrows(graph()) == []


def test_the_room_rule_can_fail():
    """The same check over a graph with arrows up (the library into a tool, a variant into a command, the server's
    library into a variant) and down: it names exactly the ones up."""
    edges = {"tfgan_cifar.lib.data": {"tfgan_cifar.tools.bench", "tfgan_cifar.lib.images"},
             "tfgan_cifar.gans.dcgan": {"tfgan_cifar.train", "tfgan_cifar.lib.losses"},
             "tfgan_cifar.serving.rest": {"tfgan_cifar.gans.acgan", "tfgan_cifar.lib.latent"},
             "tfgan_cifar.serve": {"tfgan_cifar.serving.models"}}
    assert upward_arrows(edges) == ["tfgan_cifar.gans.dcgan -> tfgan_cifar.train",
                                    "tfgan_cifar.lib.data -> tfgan_cifar.tools.bench",
                                    "tfgan_cifar.serving.rest -> tfgan_cifar.gans.acgan"]


def test_every_command_and_tool_runs_as_a_module(tmp_path):
    """`tfgan-cifar <name> --help` for each (conftest.run_cli): its __main__ block defines its flags and
    hands them to absl, which prints the module's usage (its docstring) and exits."""
    import importlib
    from conftest import run_cli
    from tfgan_cifar.__main__ import module_of
    for name in COMMANDS + TOOLS:
        ran = run_cli(name, "--help", cwd=tmp_path)
        doc = importlib.import_module(module_of(name)).__doc__.strip().splitlines()[0]
        assert ran.returncode == 1 and ran.stdout.startswith(doc) and ran.flags, (name, ran)
        assert room(module_of(name)) == ("commands" if name in COMMANDS else "tools")
        if name == "sample":
            assert {"model_dir", "n", "images_per_call", "seed"} <= set(ran.flags)


def runs_as_main(path):
    """True when the module has a top-level `if __name__ == "__main__":` block."""
    return any(isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
               and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
               and [getattr(c, "value", None) for c in node.test.comparators] == ["__main__"]
               for node in ast.parse(source(path)).body)


def test_every_runnable_module_is_a_command_or_a_tool():
    from tfgan_cifar.__main__ import module_of
    runnable = {name for name, path in modules().items() if runs_as_main(path) and not name.endswith("__main__")}
    assert runnable == {module_of(name) for name in COMMANDS + TOOLS}
    assert not runs_as_main(modules()["tfgan_cifar.lib.config"])
