"""The package's shape, checked on its source: imports run one way, no private name crosses a module boundary,
functions stay short, and `import mobikit` / `mobikit --help` never load TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from support import ROOT

PACKAGE = ROOT / "toolkit" / "mobikit"
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported mobikit module, names) for every import in the file, function-level ones included; imports made
    only for type checkers are left out (they never run)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.ImportFrom):
                base = package
                for _ in range(child.level - 1):
                    base = base.rsplit(".", 1)[0]
                target = (f"{base}.{child.module}" if child.module else base) if child.level else child.module
                if target and target.split(".")[0] == "mobikit":
                    names = [alias.name for alias in child.names]
                    found.append((target, [n for n in names if not _is_module(f"{target}.{n}")]))
                    found.extend((f"{target}.{n}", []) for n in names if _is_module(f"{target}.{n}"))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, []) for alias in child.names if alias.name.split(".")[0] == "mobikit")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        graph[module] = {target for target, _ in _imports(path) if target != module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target in graph and not state.get(target):
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if not state.get(node):
            found = visit(node)
            if found:
                return found
    return None


def test_imports_run_one_way():
    graph = _graph()  # every import counts, function-level ones included
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_a_cycle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_private_name_is_imported_across_modules():
    crossing = [f"{_module_name(path)} imports {name} from {target}" for path in PACKAGE.rglob("*.py")
                for target, names in _imports(path) for name in names
                if name.startswith("_") and not name.endswith("__")]
    assert not crossing, crossing


def test_functions_stay_short():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long


def test_import_and_help_do_not_load_tensorflow():
    check = ("import sys, mobikit, mobikit.cli; from mobikit.cli import main; "
             "assert 'tensorflow' not in sys.modules and 'cv2' not in sys.modules, 'heavy import'; "
             "assert callable(mobikit.quantize) and 'tensorflow' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    help_run = subprocess.run([sys.executable, "-m", "mobikit", "--help"], capture_output=True, text=True, timeout=120)
    assert help_run.returncode == 0 and "quantize" in help_run.stdout


VERB_RESULTS = {"profile": "Profile", "quantize": "QuantizeResult", "evaluate": "EvalResult",
                "bench": "list[BenchResult]", "analyze": "AnalyzeResult", "sweep": "SweepResult",
                "demo": "DemoSummary", "deploy": "DeployResult", "train": "TrainResult"}


def test_the_python_api_mirrors_the_cli_verbs():
    """Each public name is the library's own object (the one the CLI calls); each verb returns its typed result;
    and one verb through both doors gives the same answer: the API's `to_json()` is what `--json` prints."""
    import importlib
    import inspect
    import json

    import mobikit

    from support import run_cli

    for name, (module, attribute) in mobikit._API.items():
        assert getattr(mobikit, name) is getattr(importlib.import_module(f"mobikit.{module}"), attribute), name
    assert set(VERB_RESULTS) | {"build_model"} <= set(mobikit.__all__)
    for verb, result in VERB_RESULTS.items():
        function = getattr(mobikit, verb)
        assert inspect.isfunction(function) and inspect.signature(function).return_annotation == result, verb
    cost = mobikit.profile("v2", alpha=0.35, resolution=96)
    cli = run_cli("profile", "--arch", "v2", "--alpha", "0.35", "--resolution", "96", "--json")
    assert cli.returncode == 0, cli.stderr
    printed = json.loads(cli.stdout)
    assert printed.pop("mobikit_version") == mobikit.__version__  # the CLI stamps its version on what it prints
    assert printed == json.loads(json.dumps(cost.to_json()))
