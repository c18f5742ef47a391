"""The app's platform layer (activities, CameraX, LiteRT, resources, manifest) checked with real tools.

No APK can be built here (no Android SDK, no Google Maven), so two checks stand in for the build's front half:

* Debian's aapt packages the manifest, res/ and assets/ against Debian's framework-res.apk, as the build's resource
  step does: any resource or manifest error fails, and the generated R must have every id the Kotlin code uses.
* kotlinc-jvm -Werror compiles core and the platform layer (in the session's one build, android_build.py) against
  stub jars of exactly the API the app uses: tests/android_stubs/ — android framework, androidx, CameraX and LiteRT
  classes written by hand from the real API files (each file cites its source) — plus aapt's R. A negative control
  proves the check can fail, and the framework/androidx stubs are held member by member against the typed stubs of
  the real jars on PyPI (chaquopy-stubs-*), which cannot be turned into stubs themselves (see android_app/CHECKS.md).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from android_build import (APP_MAIN, FRAMEWORK_RES, ROOT, SOURCES, STUBS, UNCOMPRESSED, aapt_package, app_build,
                           kotlinc, platform_sources)

CHAQUOPY = Path(os.environ.get("MOBIKIT_CHAQUOPY_STUBS", ROOT / ".ci" / "tools" / "chaquopy"))
# Stub groups held against chaquopy's typed stubs of the real jars; CameraX and LiteRT have none on PyPI.
CHECKED_GROUPS = ("framework", "androidx")
UNCHECKED_PACKAGES = ("androidx.annotation",)  # the two nullability annotations: no members to check


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    built = app_build(tmp_path_factory)
    if built.toolchain.platform_missing:
        pytest.skip(built.toolchain.platform_missing)
    return built


@pytest.fixture(scope="module")
def stubbed(build):
    """The build whose API stubs (and aapt's R) compiled: what the type checks stand on."""
    assert build.stub_result is not None, "no stubs: aapt failed (test_resources_and_manifest_package_with_aapt)"
    assert build.stub_result.returncode == 0, _output(build.stub_result)
    return build


def _output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# ------------------------------------------------------------------------------------- resources and manifest

def test_resources_and_manifest_package_with_aapt(build):
    assert build.packaged.result.returncode == 0, _output(build.packaged.result)
    assert not re.search(r"warning|error", _output(build.packaged.result), re.IGNORECASE), \
        _output(build.packaged.result)
    with zipfile.ZipFile(build.packaged.apk) as apk:
        entries = {info.filename: info for info in apk.infolist()}
    assert {"AndroidManifest.xml", "resources.arsc", "res/layout/activity_main.xml"} <= set(entries)
    assets = sorted(path.relative_to(APP_MAIN).as_posix() for path in (APP_MAIN / "assets").rglob("*")
                    if path.is_file())
    assert assets and set(assets) <= set(entries)
    for name in assets:  # memory-mapped from the APK: must be stored, not deflated
        if name.rsplit(".", 1)[-1] in UNCOMPRESSED:
            assert entries[name].compress_type == zipfile.ZIP_STORED, name


def _r_ids(r_java: Path) -> set[str]:
    ids, kind = set(), None
    for line in r_java.read_text().splitlines():
        if match := re.match(r"\s*public static final class (\w+) \{", line):
            kind = match.group(1)
        elif match := re.match(r"\s*public static final int (\w+)\s*=", line):
            ids.add(f"{kind}.{match.group(1)}")
    return ids


def _resource_references(prefix: str) -> set[str]:
    pattern = re.compile(rf"(?<![\w.]){re.escape(prefix)}\.(\w+)\.(\w+)")
    return {f"{kind}.{name}" for path in platform_sources() for kind, name in pattern.findall(path.read_text())}


def test_generated_r_has_every_id_the_kotlin_code_uses(build):
    used = _resource_references("R")
    assert {"layout.activity_main", "id.preview", "string.no_model"} <= used
    assert used <= _r_ids(build.packaged.r_java)


def test_framework_ids_the_code_uses_exist_in_framework_res(build):
    used = _resource_references("android.R")
    assert used and used <= _r_ids(STUBS / "framework" / "android" / "R.java")
    dump = subprocess.run([build.toolchain.aapt, "dump", "resources", str(FRAMEWORK_RES)], capture_output=True,
                          text=True, timeout=120).stdout
    stub = (STUBS / "framework" / "android" / "R.java").read_text()
    for reference in used:
        kind, name = reference.split(".")
        value = re.search(rf"\b{name} = (0x[0-9a-f]+);", stub).group(1)
        assert re.search(rf"resource {value} android:{kind}/{name}: .*PUBLIC", dump), reference


def test_aapt_rejects_a_resource_error(build, tmp_path):
    """Negative control of the resource check: a layout naming a missing string must fail to package."""
    res = tmp_path / "res"
    shutil.copytree(APP_MAIN / "res", res)
    layout = res / "layout" / "activity_main.xml"
    layout.write_text(layout.read_text().replace('android:textSize="16sp"', 'android:text="@string/missing"'))
    result = aapt_package(build.toolchain, tmp_path / "aapt", res=res).result
    assert result.returncode != 0
    assert "missing" in _output(result)


# ------------------------------------------------------------------------------------------------ type check

def test_platform_layer_type_checks_against_the_api_stubs(stubbed):
    assert stubbed.compile_result.returncode == 0, _output(stubbed.compile_result)
    for source in platform_sources():
        assert (stubbed.classes / "org" / "mobikit" / "demo" / f"{source.stem}.class").is_file(), source.name


@dataclass(frozen=True)
class WrongCall:
    """One deliberate mistake in a copy of MainActivity.kt and the compiler error it must cause."""
    correct: str
    wrong: str
    error: str


WRONG_CALLS = (
    WrongCall("analysis?.clearAnalyzer()", "analysis?.clearAnalyser()", r"unresolved reference 'clearAnalyser'"),
    WrongCall(".setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)",
              ".setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST.toLong())",
              r"argument type mismatch: actual type is 'Long', but 'Int' was expected"),
    WrongCall("preview.display?.rotation ?: return", "preview.display.rotation",
              r"only safe \(\?\.\) or non-null asserted \(!!\.\) calls are allowed on a nullable receiver"),
)


def test_negative_control_wrong_calls_fail_the_type_check(stubbed, tmp_path):
    """A wrong method name, a wrong argument type and an unsafe call on a nullable result must not compile."""
    source = (SOURCES / "MainActivity.kt").read_text()
    broken, lines = source, []
    for mistake in WRONG_CALLS:
        assert broken.count(mistake.correct) == 1, mistake.correct
        at = broken.index(mistake.correct)
        lines.append(broken.count("\n", 0, at) + 1)
        broken = broken.replace(mistake.correct, mistake.wrong)
    copy = tmp_path / "MainActivity.kt"
    copy.write_text(broken)
    result = kotlinc(stubbed.toolchain, stubbed.compile_classpath, tmp_path / "classes", [copy])
    assert result.returncode != 0, _output(result)
    for mistake, line in zip(WRONG_CALLS, lines):
        assert re.search(rf"MainActivity\.kt:{line}:\d+: error: {mistake.error}", _output(result),
                         re.IGNORECASE), (mistake, line, _output(result))


def test_every_stub_cites_the_api_file_it_mirrors():
    stubs = sorted(STUBS.rglob("*.java"))
    assert len(stubs) > 50
    for path in stubs:
        header = path.read_text().split("\npackage ", 1)[0]
        assert re.search(r"Mirrors .*(api/|\.java)|chaquopy-stubs-|androidx\.annotation", header, re.DOTALL), path


# ------------------------------------------------------------------- stubs against the typed API of the jars

JAVA_PRIMITIVES = {"int": "jint", "long": "jlong", "boolean": "jboolean", "float": "jfloat", "double": "jdouble",
                   "short": "jshort", "byte": "jbyte", "char": "jchar"}
PYTHON_RETURNS = {"int": "int", "long": "int", "short": "int", "byte": "int", "float": "float", "double": "float",
                  "boolean": "bool", "char": "str", "void": "None", "java.lang.String": "str"}
TOP_PACKAGES = ("java", "javax", "android", "androidx", "org", "com", "dalvik")


class TypedApi:
    """chaquopy's .pyi stubs of the real jars, one install folder per package, read with `ast`."""

    def __init__(self, roots: list[Path]):
        self.roots = roots
        self._modules: dict[str, ast.Module | None] = {}

    def _module(self, name: str) -> ast.Module | None:
        if name not in self._modules:
            top, *rest = name.split(".")
            trees = [ast.parse(path.read_text()) for root in self.roots
                     if (path := root.joinpath(f"{top}-stubs", *rest, "__init__.pyi")).is_file()]
            self._modules[name] = ast.Module(body=[node for tree in trees for node in tree.body],
                                             type_ignores=[]) if trees else None
        return self._modules[name]

    def find(self, qualified: str) -> tuple[str, ast.ClassDef] | None:
        """(module, class) for a dotted Java name with nested classes joined by '$'."""
        parts = qualified.replace("$", ".").split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self._module(".".join(parts[:cut]))
            node = module
            for name in parts[cut:]:
                node = next((n for n in (node.body if node else []) if isinstance(n, ast.ClassDef)
                             and n.name == name), None)
            if node is not None:
                return ".".join(parts[:cut]), node
        return None

    def supertypes(self, qualified: str) -> list[tuple[str, ast.ClassDef]]:
        """The class and all its supertypes, nearest first."""
        found, queue, seen = [], [qualified], set()
        while queue:
            name = queue.pop(0)
            if name in seen or (entry := self.find(name)) is None:
                continue
            seen.add(name)
            found.append(entry)
            module, node = entry
            queue += [resolve(base, module, node) for base in node.bases if "typing." not in ast.unparse(base)]
        return found


def resolve(expression: ast.expr, module: str, owner: ast.ClassDef | None = None) -> str:
    """A stub's type expression (generics dropped) as a dotted Java name."""
    if isinstance(expression, ast.Subscript):
        expression = expression.value
    name = ast.unparse(expression)
    if name.split(".")[0] in TOP_PACKAGES:
        return name
    return f"{module}.{name}"


def alternatives(annotation: ast.expr | None) -> list[ast.expr]:
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return alternatives(annotation.left) + alternatives(annotation.right)
    return [annotation] if annotation is not None else []


def java_type_matches(java: str, annotation: ast.expr | None, module: str, returning: bool) -> bool:
    """Whether a javap type fits a .pyi annotation; type variables and generics are compared by erasure."""
    java = re.sub(r"<.*>", "", java).strip()
    options = alternatives(annotation)
    texts = {ast.unparse(option) for option in options}
    if any(text.startswith("_") for text in texts) or len(java) == 1 or re.fullmatch(r"[A-Z]", java):
        return True  # a type variable on either side
    if java == "java.lang.Class" and any(text.startswith("typing.Type[") for text in texts):
        return True  # chaquopy types a Class<T> parameter as Python's typing.Type
    if java.endswith("[]"):
        element = java[:-2]
        return any(isinstance(option, ast.Subscript) and ast.unparse(option.value) == "java.chaquopy.JavaArray"
                   and java_type_matches(element, option.slice, module, returning) for option in options)
    if returning and PYTHON_RETURNS.get(java) in texts:
        return True  # chaquopy types returns as Python sees them: int for int/long, float for float/double
    if java == "void":
        return not options
    if java in JAVA_PRIMITIVES:
        return f"java.{JAVA_PRIMITIVES[java]}" in texts
    resolved = {resolve(option, module) for option in options if ast.unparse(option) != "None"}
    return java.replace("$", ".") in resolved or (java == "java.lang.String" and "str" in texts)


@dataclass(frozen=True)
class Member:
    name: str
    static: bool
    parameters: list[str]
    returns: str | None  # None for constructors
    field: bool
    varargs: bool


def javap_members(javap: str, classes: list[str]) -> dict[str, tuple[str, list[Member]]]:
    """class → (header line, public/protected members) from one `javap -protected` run."""
    parsed: dict[str, tuple[str, list[Member]]] = {}
    current = None
    for line in javap.splitlines():
        if match := re.match(r"(?:public |protected )?(?:abstract |final |static )*(?:class|interface|enum) "
                             r"([\w.$]+)", line):
            current = match.group(1)
            parsed[current] = (line, [])
        elif current and line.startswith("  "):
            parsed[current][1].append(_member(line.strip().rstrip(";"), current))
    assert set(parsed) == set(classes), set(classes) ^ set(parsed)
    return parsed


def _member(declaration: str, owner: str) -> Member:
    static = " static " in f" {declaration} "
    declaration = re.sub(r"\b(public|protected|abstract|final|static|default|native|synchronized)\s+", "",
                         declaration)
    declaration = re.sub(r"^<[^()]*?>\s+", "", declaration)  # a generic method's own type parameters
    declaration = re.sub(r"\s+throws .*$", "", declaration)
    if "(" not in declaration:
        kind, name = declaration.rsplit(" ", 1)
        return Member(name, static, [], kind, field=True, varargs=False)
    head, arguments = declaration.split("(", 1)
    arguments = arguments.rstrip(")")
    parameters = [a.strip() for a in re.split(r",(?![^<]*>)", arguments) if a.strip()]
    varargs = bool(parameters) and parameters[-1].endswith("...")
    if varargs:
        parameters[-1] = parameters[-1][:-3]
    if head.strip() == owner:
        return Member("__init__", False, parameters, None, field=False, varargs=varargs)
    returns, name = head.strip().rsplit(" ", 1)
    return Member(name, static, parameters, returns, field=False, varargs=varargs)


def _decorators(node: ast.FunctionDef) -> set[str]:
    return {ast.unparse(decorator) for decorator in node.decorator_list}


def member_problem(api: TypedApi, owner: str, member: Member) -> str | None:
    """Why a stub member is not in the typed API of the real class or its supertypes, or None."""
    candidates = []
    for module, node in api.supertypes(owner):
        for item in node.body:
            if member.field and isinstance(item, ast.AnnAssign) and ast.unparse(item.target) == member.name:
                static = ast.unparse(item.annotation).startswith("typing.ClassVar")
                slot = item.annotation.slice if static else item.annotation
                if static == member.static and java_type_matches(member.returns, slot, module, returning=True):
                    return None
                candidates.append(ast.unparse(item))
            elif not member.field and isinstance(item, ast.FunctionDef) and item.name == member.name:
                candidates.append(ast.unparse(item.args) + " -> " + ast.unparse(item.returns or ast.Constant(None)))
                if _signature_matches(item, member, module):
                    return None
        if member.name == "__init__":
            break  # constructors are not inherited
    return f"{owner}.{member.name}({', '.join(member.parameters)}): no match among {candidates}"


def _signature_matches(node: ast.FunctionDef, member: Member, module: str) -> bool:
    static = "staticmethod" in _decorators(node)
    positional = [a for a in node.args.posonlyargs + node.args.args if a.arg != "self"]
    if static != member.static or bool(node.args.vararg) != member.varargs:
        return False
    fixed = member.parameters[:-1] if member.varargs else member.parameters
    if len(positional) != len(fixed):
        return False
    if not all(java_type_matches(java, argument.annotation, module, returning=False)
               for java, argument in zip(fixed, positional)):
        return False
    if member.varargs and not java_type_matches(member.parameters[-1], node.args.vararg.annotation, module,
                                                returning=False):
        return False
    return member.returns is None or java_type_matches(member.returns, node.returns, module, returning=True)


def _outside_generics(text: str) -> str:
    """`text` with every <...> argument list removed."""
    while (stripped := re.sub(r"<[^<>]*>", "", text)) != text:
        text = stripped
    return text


def supertype_problem(api: TypedApi, owner: str, header: str) -> str | None:
    """Whether the stub declares a supertype (extends/implements) the real class does not have."""
    declaration = _outside_generics(header.split(" {")[0])
    declared = re.findall(r"(?:extends|implements) ([\w.$, ]+?)(?= implements|$)", declaration)
    names = {name.strip() for group in declared for name in group.split(",")}
    known = {module + "." + node.name for module, node in api.supertypes(owner)[1:]}
    known |= {resolve(base, module) for module, node in api.supertypes(owner) for base in node.bases}
    missing = {name for name in names - {"java.lang.Object", "java.lang.Enum"} if name.replace("$", ".") not in known}
    return f"{owner} declares supertypes the real class lacks: {missing}" if missing else None


def test_stubs_match_the_typed_api_of_the_real_jars(stubbed):
    roots = sorted(path for path in CHAQUOPY.glob("chaquopy-stubs-*") if path.is_dir())
    if not any(root.name == "chaquopy-stubs-android" for root in roots):
        pytest.skip(f"chaquopy-stubs-* not installed under {CHAQUOPY} (.ci/run installs them with pip --target)")
    api = TypedApi(roots)
    classes = []
    for group in CHECKED_GROUPS:
        for path in sorted(stubbed.stub_classes.rglob("*.class")):
            name = path.relative_to(stubbed.stub_classes).with_suffix("").as_posix().replace("/", ".")
            source = STUBS / group / (name.split("$")[0].replace(".", "/") + ".java")
            if source.is_file() and not name.startswith(UNCHECKED_PACKAGES):
                classes.append(name)
    assert len(classes) > 40
    javap_tool = Path(stubbed.toolchain.javac).with_name("javap")  # the JDK's, next to javac
    javap = subprocess.run([str(javap_tool), "-protected", "-cp", str(stubbed.stub_classes), *classes],
                           capture_output=True, text=True, timeout=300)
    assert javap.returncode == 0, _output(javap)
    problems = []
    for owner, (header, members) in javap_members(javap.stdout, classes).items():
        if api.find(owner) is None:
            problems.append(f"{owner}: no such class in the typed API")
            continue
        problems += filter(None, [supertype_problem(api, owner, header)])
        problems += filter(None, (member_problem(api, owner, member) for member in members))
    assert not problems, "\n".join(problems)


# ------------------------------------------ LiteRT and CameraX stubs against recorded signatures of the real API

SIGNATURES = STUBS / "signatures"
# Supertypes whose public members a class exposes, as the real sources declare them (Interpreter extends the
# package-private InterpreterImpl and implements InterpreterApi; GpuDelegate.Options extends GpuDelegateFactory's).
RECORDED_SUPERTYPES = {
    "org.tensorflow.lite.Interpreter": ("org.tensorflow.lite.InterpreterImpl", "org.tensorflow.lite.InterpreterApi"),
    "org.tensorflow.lite.Interpreter$Options": ("org.tensorflow.lite.InterpreterApi$Options",),
    "org.tensorflow.lite.gpu.GpuDelegate$Options": ("org.tensorflow.lite.gpu.GpuDelegateFactory$Options",),
    "org.tensorflow.lite.gpu.GpuDelegate": ("org.tensorflow.lite.Delegate",),
    "org.tensorflow.lite.nnapi.NnApiDelegate": ("org.tensorflow.lite.Delegate",),
}
CONFUSABLE_EDITS = 3  # a real member this close in name to a stubbed one must be stubbed too (setUseNNAPI/…XNNPACK)


@dataclass(frozen=True)
class Signature:
    name: str  # "<init>" for constructors
    static: bool
    parameters: tuple[str, ...]
    returns: str  # "" for constructors


def _erased(java_type: str) -> str:
    text = _outside_generics(java_type).replace("!", "").replace("?", "").replace("...", "[]").strip()
    return re.sub(r"^final ", "", text)


def _nested_dollars(java_type: str) -> str:
    """`androidx.camera.core.ImageAnalysis.Builder` → `androidx.camera.core.ImageAnalysis$Builder`."""
    array = "[]" * java_type.count("[]")
    parts = java_type.replace("[]", "").split(".")
    first = next((i for i, part in enumerate(parts) if part[:1].isupper()), len(parts))
    if first >= len(parts) - 1:
        return java_type
    return ".".join(parts[:first + 1]) + "$" + "$".join(parts[first + 1:]) + array


def _qualified(java_type: str) -> str:
    java_type = _nested_dollars(_erased(java_type))
    bare = java_type.replace("[]", "")
    if bare in ("String", "Object", "Runnable", "Throwable", "Integer", "Long", "Void"):
        return "java.lang." + java_type
    return java_type


def recorded_litert() -> dict[str, set[Signature]]:
    found: dict[str, set[Signature]] = {}
    for line in (SIGNATURES / "litert-v1.4.1.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        owner, kind, static, name, parameters, returns = line.split("\t")
        found.setdefault(owner, set()).add(Signature(
            name, static == "static", tuple(p for p in parameters.split(",") if p), returns if kind != "ctor" else ""))
    return found


def recorded_camerax() -> dict[str, set[Signature]]:
    found: dict[str, set[Signature]] = {}
    owner = None
    lines = [line for name in ("camera-core-1.5.0-beta01.txt", "camera-lifecycle-current.txt")
             for line in (SIGNATURES / name).read_text().splitlines()]
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("class "):
            owner = _nested_dollars(line[6:].strip())
            continue
        text = re.sub(r"@[\w.]+(\([^()]*\))?\s*", "", line.strip()).split(" = ")[0].rstrip(";")
        kind, rest = text.split(" ", 1)
        static = " static " in f" {rest} "
        rest = re.sub(r"\b(public|protected|static|final|abstract|default)\s+", "", rest)
        if kind == "field":
            field_type, name = rest.rsplit(" ", 1)
            found.setdefault(owner, set()).add(Signature(name, static, (), _qualified(field_type)))
            continue
        head, arguments = rest.split("(", 1)
        parameters = tuple(_qualified(re.sub(r"\s+[a-z]\w*$", "", a.strip()))
                           for a in re.split(r",(?![^<]*>)", arguments.rsplit(")", 1)[0]) if a.strip())
        if kind == "ctor":
            found.setdefault(owner, set()).add(Signature("<init>", False, parameters, ""))
        else:
            returns, name = head.rsplit(" ", 1)
            found.setdefault(owner, set()).add(Signature(name, static, parameters, _qualified(returns)))
    return found


def _stub_signature(member: Member) -> Signature:
    parameters = tuple(_qualified(p) for p in member.parameters[:-1]) + \
        ((_qualified(member.parameters[-1]) + ("[]" if member.varargs else ""),) if member.parameters else ())
    return Signature(member.name if member.name != "__init__" else "<init>", member.static, parameters,
                     _qualified(member.returns) if member.returns else "")


def _edits(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_litert_and_camerax_stubs_match_the_recorded_real_signatures(stubbed):
    """Every LiteRT/CameraX stub member exists in the real API with the same static-ness, parameter and result
    types (recorded from LiteRT's sources at v1.4.1 and CameraX's camera-core and camera-lifecycle API files), and
    every real member a caller could confuse with a stubbed one — an overload, or a name within CONFUSABLE_EDITS
    edits — is stubbed too, so a correct call is never reported as unresolved."""
    recorded = {**recorded_litert(), **recorded_camerax()}
    classes = sorted(path.relative_to(stubbed.stub_classes).with_suffix("").as_posix().replace("/", ".")
                     for path in stubbed.stub_classes.rglob("*.class")
                     if path.relative_to(stubbed.stub_classes).parts[0] in ("org", "androidx")
                     and path.relative_to(stubbed.stub_classes).as_posix().startswith(
                         ("org/tensorflow/lite", "androidx/camera/core", "androidx/camera/lifecycle")))
    assert len(classes) >= 20
    javap_tool = Path(stubbed.toolchain.javac).with_name("javap")
    javap = subprocess.run([str(javap_tool), "-protected", "-cp", str(stubbed.stub_classes), *classes],
                           capture_output=True, text=True, timeout=300)
    assert javap.returncode == 0, _output(javap)
    problems, checked = [], 0
    for owner, (_, members) in javap_members(javap.stdout, classes).items():
        real = set(recorded.get(owner, set()))
        if not any(s.name == "<init>" for s in real):
            real.add(Signature("<init>", False, (), ""))  # Java's implicit constructor (javap lists none for interfaces)
        for supertype in RECORDED_SUPERTYPES.get(owner, ()):  # inherited, unless overridden (covariant results)
            own = {(s.name, s.static, s.parameters) for s in real}
            real |= {s for s in recorded.get(supertype, set())
                     if s.name != "<init>" and (s.name, s.static, s.parameters) not in own}
        if owner not in recorded and owner not in RECORDED_SUPERTYPES:
            continue  # an enum or a class not recorded (DataType, CameraState.ErrorType)
        stub = {_stub_signature(m) for m in members if not (m.field and m.name == "$VALUES")}
        stub = {s for s in stub if not (s.name in ("values", "valueOf") and s.static)}
        checked += 1
        problems += [f"{owner}.{s.name}{s.parameters} -> {s.returns}: not in the real API" for s in stub - real]
        names = {s.name for s in stub}
        for member in real - stub:
            if member.name != "<init>" and any(member.name == n or _edits(member.name, n) <= CONFUSABLE_EDITS
                                               for n in names):
                problems.append(f"{owner}.{member.name}{member.parameters}: real and confusable with a stubbed "
                                "member, missing from the stub")
    assert checked >= 15, checked
    assert not problems, "\n".join(sorted(problems))
