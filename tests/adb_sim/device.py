"""A simulated phone on 127.0.0.1 that the real adb server connects to (`adb connect 127.0.0.1:PORT`).

Its filesystem is a temp folder: device path `/a/b` is `<root>/a/b`. Like Android 11+, only the app can create its
external files folder `/sdcard/Android/data/<pkg>/files` (it does so when an activity starts); the shell may write
inside it afterwards, but not before. `/data/local/tmp` belongs to the shell user, who may create, list, run and
remove files there: native tools such as benchmark_model are pushed and run from it (developer.android.com/tools/adb,
"Copy files to and from a device" and "Issue shell commands"; TensorFlow Lite's benchmark README for Android,
tensorflow/lite/tools/benchmark/README.md: `adb push … /data/local/tmp`, `adb shell /data/local/tmp/benchmark_model`). Faults for tests: `drop_push` (cut the connection after N bytes of a named
file), `drop_shell` (cut it before, during or after one device-shell command), both then staying away — refusing
reconnects — until `away` is cleared, like a phone whose cable was pulled (or, for `drop_shell`, a few seconds, like
a loose one); `corrupt_push` (flip a byte of a named file as it is stored). Each fires once.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shlex
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .logcat import LogBuffer
from .protocol import Connection

APP_DATA = "/sdcard/Android/data"
WRITABLE_ROOTS = ("/sdcard", "/data/local/tmp")
FEATURES = "shell_v2,stat_v2,ls_v2,fixed_push_mkdir,fixed_push_symlink_timestamp"


class DeviceFsError(Exception):
    """A filesystem operation the device refuses; the message is what Android's tools print."""


CUT_MOMENTS = ("before", "during", "after")


@dataclass(frozen=True)
class ShellDrop:
    """The cable goes at the `nth` shell command whose words start with `argv` (each a shell-style pattern, so a
    path made per run can be matched with `*`): `before` it runs, `during` it (an `rm -r` has removed one file; a
    rename is one system call, so it has not happened) or `after` it ran, before its exit status reaches the host
    (the host cannot tell which of these happened)."""

    argv: tuple[str, ...]
    when: str = "after"
    back_after: float | None = None  # seconds until the phone takes connections again; None: until `away` is cleared
    nth: int = 1

    def __post_init__(self):
        if self.when not in CUT_MOMENTS:
            raise ValueError(f"when must be one of {CUT_MOMENTS}, not {self.when!r}")

    def matches(self, line: str) -> bool:
        try:
            words = shlex.split(line)
        except ValueError:
            return False
        if words[:1] == ["toybox"]:
            words = words[1:]
        return len(words) >= len(self.argv) and all(fnmatch.fnmatchcase(word, pattern)
                                                    for word, pattern in zip(words, self.argv))


@dataclass
class Faults:
    drop_push: tuple[str, int] | None = None  # (file name, bytes received before the connection is cut)
    drop_shell: ShellDrop | None = None
    corrupt_push: str | None = None  # file name whose stored copy gets one byte flipped

    matched: int = 0  # commands `drop_shell` has matched so far

    def take_shell_drop(self, line: str) -> ShellDrop | None:
        """The shell fault if it fires on this command line (it fires once, at its `nth` match)."""
        drop = self.drop_shell
        if drop is None or not drop.matches(line):
            return None
        self.matched += 1
        if self.matched < drop.nth:
            return None
        self.drop_shell, self.matched = None, 0
        return drop


@dataclass
class AppState:
    apk_sha256: str | None = None
    debuggable: bool = True  # Gradle's debug APK, what deploy installs


class SimDevice:
    """Start with `start()`; `serial` is what adb calls it once connected."""

    def __init__(self, model: str = "Pixel 7", *, android: str = "14", sdk: int = 34, soc: str = "Tensor G2",
                 has_sha256sum: bool = True, gpu: bool = False, nnapi_accelerator: bool = False,
                 benchmark_format: str = "2024", app_start_delay: float = 0.3, app_core: str | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="adb-sim-"))
        self.app_core = app_core  # the classpath of the app's Kotlin core (app_core.py); None: the session's build
        self.props = {
            "ro.product.model": model, "ro.product.name": "panther", "ro.product.device": "panther",
            "ro.product.manufacturer": "Google", "ro.hardware": "panther", "ro.build.version.release": android,
            "ro.build.version.sdk": str(sdk), "ro.product.cpu.abi": "arm64-v8a", "ro.soc.model": soc,
            # Build.SUPPORTED_ABIS (developer.android.com/reference/android/os/Build#SUPPORTED_ABIS), most preferred
            # first; a Tensor G2 runs 64-bit code only (source.android.com/docs/core/architecture/64-bit-builds)
            "ro.product.cpu.abilist": "arm64-v8a",
            "ro.soc.manufacturer": "Google", "ro.serialno": "SIM" + format(id(self) & 0xFFFFFF, "06X"),
        }
        self.has_sha256sum, self.gpu, self.benchmark_format = has_sha256sum, gpu, benchmark_format
        self.nnapi_accelerator = nnapi_accelerator
        self.app_start_delay = app_start_delay
        self.faults = Faults()
        self.away = False
        self.apps: dict[str, AppState] = {}
        self.logcat = LogBuffer()
        self.app = None  # the demo app's behaviour (demo_app.DemoApp) once installed
        self.activities = None  # its tasks (activities.ActivityManager) once installed
        self.commands: list[str] = []  # every shell command line received, for assertions
        # what each benchmark on the phone received and measured, as the phone side saw it (tests compare the
        # host's report with it): {"tool", "received": intent extras or flags, "measured": the figures it reported}
        self.measured: list[dict] = []
        self.lock = threading.Lock()
        for folder in (APP_DATA, "/data/local/tmp", "/data/app", "/system/bin"):
            self.host_path(folder).mkdir(parents=True, exist_ok=True)
        self._listener: socket.socket | None = None
        self._connections: list[Connection] = []
        self.port = 0
        self.reverse_rules: dict = {}  # LOCAL spec → reverse.ReverseRule (adb reverse listeners)
        self.busy_ports: set[int] = set()  # phone ports another app listens on: adb reverse cannot bind them
        self.browser_installed = True  # an app takes ACTION_VIEW http(s) intents
        self.page_loads: list = []  # browser.PageLoad of every page the browser loaded

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def banner(self) -> str:
        p = self.props
        return (f"device::ro.product.name={p['ro.product.name']};ro.product.model={p['ro.product.model']};"
                f"ro.product.device={p['ro.product.device']};features={FEATURES}")

    # --- network -------------------------------------------------------------------------------------------------

    def start(self) -> "SimDevice":
        """Listen on a free port outside 5555-5585 (a fresh adb server would list those as emulators)."""
        while True:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            if not 5555 <= listener.getsockname()[1] <= 5585:
                break
            listener.close()
        listener.listen(8)
        self._listener, self.port = listener, listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        from .services import open_service

        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self.away:
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, self.banner)
            self._connections.append(conn)
            threading.Thread(target=conn.serve, args=(lambda stream, service: open_service(self, stream, service),),
                             daemon=True).start()

    def pull_cable(self, conn: Connection, back_after: float | None = None) -> None:
        """Cut the connection and stay away (refuse reconnects) for `back_after` seconds, or until a test sets `away`
        back to False."""
        self.away = True
        conn.drop()
        if back_after is not None:
            timer = threading.Timer(back_after, setattr, (self, "away", False))
            timer.daemon = True
            timer.start()

    def install_app(self, package: str) -> None:
        """`pm install`: the demo app's behaviour and the activity manager that drives it (a reinstall keeps
        neither a running process nor its tasks)."""
        from .activities import ActivityManager
        from .demo_app import DemoApp

        if self.activities is not None:
            self.activities.force_stop()
        if self.app is not None:
            self.app.close()
        self.app = DemoApp(self, package)
        self.activities = ActivityManager(package, self.app, self.app_start_delay)

    def press_home(self) -> None:
        """The user goes to the home screen (or another app comes to the front)."""
        if self.activities is not None:
            self.activities.leave_foreground()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for conn in self._connections:
            conn.drop()
        if self.app is not None:
            self.app.close()

    # --- filesystem ----------------------------------------------------------------------------------------------

    def normalize(self, path: str) -> str:
        """The absolute path; `/data/user/0/<pkg>` is the same folder as `/data/data/<pkg>`."""
        path = posixpath.normpath(posixpath.join("/", path))
        if path == "/data/user/0" or path.startswith("/data/user/0/"):
            path = "/data/data" + path[len("/data/user/0"):]
        return path

    def host_path(self, path: str) -> Path:
        return self.root / self.normalize(path).lstrip("/")

    def check_writable(self, path: str) -> None:
        """Android 11+ rules for the shell user: /sdcard and /data/local/tmp, app folders only once created."""
        path = self.normalize(path)
        if not any(path == root or path.startswith(root + "/") for root in WRITABLE_ROOTS):
            raise DeviceFsError(f"{path}: Permission denied")
        if path.startswith(APP_DATA + "/"):
            parts = path[len(APP_DATA) + 1:].split("/")
            files = self.host_path(f"{APP_DATA}/{parts[0]}/files")
            if len(parts) < 3 or not files.is_dir():
                raise DeviceFsError(f"{path}: Permission denied")

    def app_files_dir(self, package: str) -> str:
        return f"{APP_DATA}/{package}/files"

    def read_file(self, path: str) -> bytes:
        """Test helper: a device file's bytes."""
        return self.host_path(path).read_bytes()

    def exists(self, path: str) -> bool:
        return self.host_path(path).exists()
