"""Record the public Java API of the LiteRT classes the app's stubs mirror, from LiteRT's own sources.

Run against a checkout of google-ai-edge/LiteRT (the tag the app's LiteRT version comes from):

    python extract_litert.py /path/to/LiteRT v1.4.1 > litert-v1.4.1.txt

It reads the Java files with `git show TAG:PATH`, keeps the public members of each class (everything in an
interface), and prints one line per member: `Class<TAB>kind<TAB>static<TAB>name<TAB>parameter types<TAB>type`,
types erased and qualified through the file's imports. Only signatures are recorded, never code.
"""

from __future__ import annotations

import re
import subprocess
import sys

FILES = {
    "org.tensorflow.lite": "tflite/java/src/main/java/org/tensorflow/lite/{}.java",
    "org.tensorflow.lite.gpu": "tflite/delegates/gpu/java/src/main/java/org/tensorflow/lite/gpu/{}.java",
    "org.tensorflow.lite.nnapi": "tflite/delegates/nnapi/java/src/main/java/org/tensorflow/lite/nnapi/{}.java",
}
CLASSES = ("org.tensorflow.lite.Interpreter", "org.tensorflow.lite.InterpreterApi", "org.tensorflow.lite.Tensor",
           "org.tensorflow.lite.DataType", "org.tensorflow.lite.Delegate", "org.tensorflow.lite.gpu.GpuDelegate",
           "org.tensorflow.lite.gpu.GpuDelegateFactory", "org.tensorflow.lite.gpu.CompatibilityList",
           "org.tensorflow.lite.nnapi.NnApiDelegate", "org.tensorflow.lite.InterpreterImpl")
JAVA_LANG = {"Object", "String", "Long", "Integer", "Boolean", "Float", "Double", "AutoCloseable", "Runnable",
             "Class", "Throwable", "Exception", "Enum"}
PRIMITIVES = {"int", "long", "boolean", "float", "double", "short", "byte", "char", "void"}


def strip(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL)
    source = re.sub(r"//[^\n]*", " ", source)
    source = re.sub(r'"(?:\\.|[^"\\])*"', '""', source)
    source = re.sub(r"'(?:\\.|[^'\\])'", "' '", source)
    return re.sub(r"@\w+(?:\.\w+)*(?:\([^()]*\))?", " ", source)  # annotations


def erase(text: str) -> str:
    while (stripped := re.sub(r"<[^<>]*>", "", text)) != text:
        text = stripped
    return re.sub(r"\s+", "", text.replace("final ", ""))


class Resolver:
    def __init__(self, package: str, source: str, nested: set[str]):
        self.package, self.nested = package, nested
        self.imports = {name.rsplit(".", 1)[1]: name for name in re.findall(r"^import\s+([\w.]+);", source, re.M)}

    def qualify(self, owner: str, java_type: str) -> str:
        java_type = erase(java_type)
        array = ""
        while java_type.endswith("[]"):
            java_type, array = java_type[:-2], array + "[]"
        if java_type.endswith("..."):
            java_type, array = java_type[:-3], array + "[]"
        head, _, rest = java_type.partition(".")
        if java_type in PRIMITIVES or len(java_type) == 1:
            return java_type + array
        if head in self.imports:
            return self.imports[head] + ("$" + rest.replace(".", "$") if rest else "") + array
        if head in JAVA_LANG and not rest:
            return "java.lang." + head + array
        if java_type in self.nested:
            return self.nested[java_type] + array
        if "." in java_type and java_type.split(".")[0][0].islower():
            return java_type + array
        return f"{self.package}.{java_type.replace('.', '$')}" + array


def members(package: str, name: str, source: str) -> list[str]:
    text = strip(source)
    lines = []
    nested: dict[str, str] = {}
    statement = ""
    depth_kinds: list[tuple[str, str]] = []  # (qualified class or "", kind) per open body; (None, "code") for code
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "{":
            match = re.search(r"\b(class|interface|enum)\s+(\w+)\b[^{;()]*$", statement)
            if match and "new " not in statement.split(match.group(0))[0][-5:]:
                outer = next((q for q, k in reversed(depth_kinds) if q), None)
                qualified = f"{outer}${match.group(2)}" if outer else f"{package}.{match.group(2)}"
                public = outer is None or "public" in statement or (depth_kinds[-1][1] == "interface")
                depth_kinds.append((qualified if public else "", match.group(1)))
                nested[match.group(2)] = qualified
                if match.group(1) == "enum":
                    body_end = text.find(";", pos)
                    close = text.find("}", pos)
                    constants = text[pos + 1:min(x for x in (body_end, close) if x > 0)]
                    for constant in re.findall(r"^\s*(\w+)", constants.replace(",", "\n"), re.M):
                        lines.append((qualified, "enum_constant", "static", constant, "", qualified))
            else:
                if depth_kinds and depth_kinds[-1][0] and "(" in statement:
                    lines.append(_member(depth_kinds[-1], statement))
                depth_kinds.append((None, "code"))
            statement = ""
        elif char == "}":
            if depth_kinds:
                depth_kinds.pop()
            statement = ""
        elif char == ";":
            if depth_kinds and depth_kinds[-1][0]:
                lines.append(_member(depth_kinds[-1], statement))
            statement = ""
        else:
            statement += char
        pos += 1
    resolver = Resolver(package, source, {k: v for k, v in nested.items() if v})
    out = []
    for entry in lines:
        if entry is None:
            continue
        owner, kind, static, member, params, returns = entry
        if kind == "enum_constant":
            out.append(f"{owner}\tfield\tstatic\t{member}\t\t{owner}")
            continue
        qualified = [resolver.qualify(owner, p) for p in params]
        out.append(f"{owner}\t{kind}\t{static}\t{member}\t{','.join(qualified)}\t"
                   f"{resolver.qualify(owner, returns) if returns else ''}")
    return out


def _member(owner_kind: tuple[str, str], statement: str):
    owner, kind = owner_kind
    text = " ".join(statement.split())
    interface = kind == "interface"
    if not interface and not re.search(r"\b(public|protected)\b", text):
        return None
    if interface and re.search(r"\bprivate\b", text):
        return None
    static = "static" if re.search(r"\bstatic\b", text) or (interface and "(" not in text) else ""
    text = re.sub(r"\b(public|protected|private|abstract|final|static|default|native|synchronized|transient|"
                  r"volatile|strictfp)\b", " ", text)
    text = re.sub(r"\bthrows\b.*$", "", text).strip()
    if "(" in text:
        head, arguments = text.split("(", 1)
        arguments = arguments.rsplit(")", 1)[0]
        head = re.sub(r"^<[^()]*?>\s*", "", head.strip())
        params = [re.sub(r"\s+\w+$", "", a.strip()) for a in re.split(r",(?![^<]*>)", arguments) if a.strip()]
        parts = head.rsplit(" ", 1)
        simple = owner.rsplit("$", 1)[-1].rsplit(".", 1)[-1]
        if len(parts) == 1 and parts[0] == simple:
            return (owner, "ctor", "", "<init>", params, "")
        if len(parts) != 2:
            return None
        return (owner, "method", static, parts[1], params, parts[0])
    declaration = text.split("=", 1)[0].strip()
    if " " not in declaration:
        return None
    field_type, name = declaration.rsplit(" ", 1)
    return (owner, "field", static, name, [], field_type)


def main(repo: str, tag: str) -> None:
    commit = subprocess.run(["git", "-C", repo, "rev-parse", f"{tag}^{{commit}}"], capture_output=True, text=True,
                            check=True).stdout.strip()
    print(f"# google-ai-edge/LiteRT {tag} (commit {commit}): public Java API of the classes the app stubs")
    print("# class\tkind\tstatic\tname\tparameter types\ttype   (written by extract_litert.py; signatures only)")
    for qualified in CLASSES:
        package, name = qualified.rsplit(".", 1)
        path = FILES[package].format(name)
        source = subprocess.run(["git", "-C", repo, "show", f"{tag}:{path}"], capture_output=True, text=True,
                                check=True).stdout
        for line in sorted(set(members(package, name, source))):
            print(line)


if __name__ == "__main__":
    main(*sys.argv[1:3])
