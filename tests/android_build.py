"""One build of android_app per test session, shared by test_android_app.py and test_android_platform.py.

kotlinc-jvm costs most of the Android tests' time, so it runs once: core, core's JUnit tests and — when Debian's
aapt and framework resources are there — the platform layer too, against the hand-written API stubs in
`tests/android_stubs/` (compiled with javac) and the `R` class aapt generates from the app's real resources.
Without aapt only core and its tests compile, and the platform checks skip with the reason.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from mobikit.android import contract

ROOT = Path(__file__).resolve().parents[1]
ANDROID = ROOT / "android_app"
APP_MAIN = ANDROID / "app" / "src" / "main"
SOURCES = APP_MAIN / "java" / "org" / "mobikit" / "demo"
CORE = SOURCES / "core"
CORE_TESTS = ANDROID / "app" / "src" / "test" / "java" / "org" / "mobikit" / "demo" / "core"
MANIFEST = APP_MAIN / "AndroidManifest.xml"
STUBS = ROOT / "tests" / "android_stubs"
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
NPM_KOTLINC = ROOT / ".ci" / "tools" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc-jvm"
JUNIT_JARS = (Path("/usr/share/java/junit4.jar"),)
HAMCREST_JARS = tuple(Path("/usr/share/java") / name for name in ("hamcrest-core.jar", "hamcrest.jar",
                                                                   "hamcrest-all.jar"))
# The build's SDK levels (app/build.gradle.kts), given to aapt as Gradle gives them to aapt2.
MIN_SDK, TARGET_SDK = 24, 36
# Stored uncompressed in the APK, as the build's `noCompress` asks (the bundled model is memory-mapped).
UNCOMPRESSED = ("tflite",)


@dataclass(frozen=True)
class Toolchain:
    kotlinc: Path
    java: str
    stdlib: Path
    libraries: tuple[Path, ...]  # JUnit 4 and hamcrest
    javac: str | None
    aapt: str | None

    @property
    def platform_missing(self) -> str | None:
        """Why the platform layer cannot be checked here, or None when it can."""
        if self.aapt is None or not FRAMEWORK_RES.is_file():
            return "needs Debian's aapt and android-framework-res (apt-get install aapt android-framework-res)"
        if self.javac is None:
            return "needs javac (a JDK) to compile the API stubs"
        return None


@dataclass(frozen=True)
class Packaged:
    """aapt's run over the manifest, res/ and assets/: its result, the APK and the generated R.java."""
    result: subprocess.CompletedProcess
    apk: Path
    r_java: Path


@dataclass(frozen=True)
class AppBuild:
    toolchain: Toolchain
    compile_result: subprocess.CompletedProcess
    classes: Path
    packaged: Packaged | None  # None when the platform layer is not checked here
    stub_classes: Path | None
    stub_result: subprocess.CompletedProcess | None

    @property
    def runtime_classpath(self) -> str:
        return os.pathsep.join(map(str, [self.classes, self.toolchain.stdlib, *self.toolchain.libraries]))

    @property
    def compile_classpath(self) -> str:
        """What the platform layer compiles against: stubs, R, and the app's own classes."""
        assert self.stub_classes is not None
        return os.pathsep.join(map(str, [self.stub_classes, self.classes]))


def _first_file(paths) -> Path | None:
    return next((Path(p) for p in paths if p and Path(p).is_file()), None)


def find_toolchain() -> Toolchain | str:
    """The tools, or the reason the Kotlin checks cannot run here."""
    kotlinc = _first_file([os.environ.get("KOTLINC"), shutil.which("kotlinc-jvm"), NPM_KOTLINC])
    java = shutil.which("java")
    if kotlinc is None or java is None:
        return "needs java and kotlinc-jvm ($KOTLINC, PATH, or npm kotlin-compiler in .ci/tools)"
    junit, hamcrest = _first_file(JUNIT_JARS), _first_file(HAMCREST_JARS)
    if junit is None or hamcrest is None:
        return "needs JUnit 4 and hamcrest jars (Debian package junit4)"
    stdlib = kotlinc.resolve().parent.parent / "lib" / "kotlin-stdlib.jar"
    if not stdlib.is_file():
        return f"kotlin-stdlib.jar not next to {kotlinc}"
    return Toolchain(kotlinc, java, stdlib, (junit, hamcrest), shutil.which("javac"), shutil.which("aapt"))


def kotlinc(toolchain: Toolchain, classpath: str, out: Path, sources: list[Path]) -> subprocess.CompletedProcess:
    """kotlinc-jvm with warnings as errors (the npm package may not keep the script's exec bit)."""
    command = ["bash", str(toolchain.kotlinc), "-Werror", "-cp", classpath, "-d", str(out), *map(str, sources)]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def manifest_with_package(target: Path) -> Path:
    """The manifest as Gradle merges it: the namespace of app/build.gradle.kts becomes its package attribute."""
    text = MANIFEST.read_text()
    opening = "<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\">"
    assert text.count(opening) == 1, "manifest opening tag changed; update manifest_with_package"
    target.mkdir(parents=True, exist_ok=True)
    merged = target / "AndroidManifest.xml"  # aapt insists on this file name
    merged.write_text(text.replace(opening, opening[:-1] + f" package=\"{contract.PACKAGE}\">"))
    return merged


def aapt_package(toolchain: Toolchain, work: Path, res: Path = APP_MAIN / "res") -> Packaged:
    """Packages manifest, resources and assets against framework-res.apk, as the build's resource step does."""
    generated = work / "gen"
    generated.mkdir(parents=True, exist_ok=True)
    apk = work / "resources.apk"
    command = [toolchain.aapt, "package", "-f", "-m", "-J", str(generated), "-M",
               str(manifest_with_package(work / "manifest")), "-S", str(res), "-A", str(APP_MAIN / "assets"),
               "-I", str(FRAMEWORK_RES), "-F", str(apk), "--min-sdk-version", str(MIN_SDK),
               "--target-sdk-version", str(TARGET_SDK)]
    for extension in UNCOMPRESSED:
        command += ["-0", extension]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    return Packaged(result, apk, generated / Path(*contract.PACKAGE.split(".")) / "R.java")


def platform_sources() -> list[Path]:
    return [path for path in sorted(SOURCES.rglob("*.kt")) if CORE not in path.parents]


def core_sources() -> list[Path]:
    """core and its test source set (JUnit tests, CrossCheckMain, the simulator's SimulatedAppMain)."""
    return sorted(CORE.glob("*.kt")) + sorted(CORE_TESTS.glob("*.kt"))


def _build(toolchain: Toolchain, work: Path) -> AppBuild:
    sources = core_sources()
    libraries = os.pathsep.join(map(str, toolchain.libraries))
    classes = work / "classes"
    if toolchain.platform_missing is not None:
        return AppBuild(toolchain, kotlinc(toolchain, libraries, classes, sources), classes, None, None, None)
    packaged = aapt_package(toolchain, work / "aapt")
    if packaged.result.returncode != 0:
        return AppBuild(toolchain, kotlinc(toolchain, libraries, classes, sources), classes, packaged,
                        None, None)
    stub_classes = work / "stubs"
    stub_sources = sorted(STUBS.rglob("*.java")) + [packaged.r_java]
    stub_result = subprocess.run([toolchain.javac, "-d", str(stub_classes), *map(str, stub_sources)],
                                 capture_output=True, text=True, timeout=300)
    if stub_result.returncode != 0:
        return AppBuild(toolchain, kotlinc(toolchain, libraries, classes, sources), classes, packaged,
                        None, stub_result)
    classpath = os.pathsep.join([str(stub_classes), libraries])
    result = kotlinc(toolchain, classpath, classes, sources + platform_sources())
    return AppBuild(toolchain, result, classes, packaged, stub_classes, stub_result)


_BUILDS: dict[str, AppBuild] = {}


def app_build(tmp_path_factory) -> AppBuild:
    """The session's one build (skips the calling test when Kotlin or JUnit is missing)."""
    import pytest

    toolchain = find_toolchain()
    if isinstance(toolchain, str):
        pytest.skip(toolchain)
    if "app" not in _BUILDS:
        _BUILDS["app"] = _build(toolchain, tmp_path_factory.mktemp("android-build"))
    return _BUILDS["app"]


_CORE_LOCK = threading.Lock()


def core_build() -> AppBuild | str:
    """Compiled core with its test source set, for the simulated phone's app side (tests/adb_sim/app_core.py): the
    session's app build when there is one, else core alone, compiled once; the reason when Kotlin or JUnit is
    missing."""
    with _CORE_LOCK:
        if "app" in _BUILDS and _BUILDS["app"].compile_result.returncode == 0:
            return _BUILDS["app"]
        if "core" not in _BUILDS:
            toolchain = find_toolchain()
            if isinstance(toolchain, str):
                return toolchain
            work = Path(tempfile.mkdtemp(prefix="mobikit-core-"))
            atexit.register(shutil.rmtree, work, True)
            libraries = os.pathsep.join(map(str, toolchain.libraries))
            result = kotlinc(toolchain, libraries, work / "classes", core_sources())
            _BUILDS["core"] = AppBuild(toolchain, result, work / "classes", None, None, None)
        return _BUILDS["core"]


def require_core_build() -> AppBuild:
    """For tests on the simulated phone, whose app side is core: compiled before a test waits on the phone (kotlinc
    takes minutes), failing with the compiler's message, skipping with the reason when Kotlin or JUnit is missing."""
    import pytest

    build = core_build()
    if isinstance(build, str):
        pytest.skip(build)
    assert build.compile_result.returncode == 0, build.compile_result.stdout + build.compile_result.stderr
    return build
