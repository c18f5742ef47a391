"""The demo app's behaviour on the simulated phone: android_app's Kotlin core decides, the host's LiteRT infers.

MainActivity (onCreate and, when the class overrides it, onNewIntent): a `model` + `sha256` intent imports the
deployed folder from app-specific external storage into internal storage — the copy is verified, model.tflite's
sha256 must equal what model.json names and what the intent sent (core's ModelImporter) — then loads it and logs
one `MOBIKIT_MODEL <json>` line, which core writes (`modelReportLine`, the delegate coverage read by core from the
`tflite` lines LiteRT logged); a refusal is logged with the reason.
BenchmarkActivity: imports the same way, then core's `runBenchmark` runs in the app's JVM (app_core.py) — request
parsing, benchmark_model's stopping rules, the foreground check before every run (onPause), random input, delegate
coverage, statistics and the result JSON are the Kotlin app's — on an interpreter that is the host's LiteRT,
opened, fed and invoked here when core calls for it. The simulator writes the JSON core made to the file core
names, logs core's `MOBIKIT_BENCH <json>` line, and finishes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import threading
import time

import numpy as np

from mobikit.android import contract

from . import delegates
from .app_core import AppCore, AppCoreError
from .storage import internal_dir

MAIN, BENCHMARK = (a.rsplit(".", 1)[-1] for a in (contract.MAIN_ACTIVITY, contract.BENCHMARK_ACTIVITY))
XNNPACK_FOR = {"cpu": False, "xnnpack": True, "gpu": True, "nnapi": True}  # core's Delegate.xnnpack
DEFAULT_DELEGATE = "xnnpack"  # core's Delegate.DEFAULT, what the camera screen starts on
DIGEST_FILE = ".sha256"


class DemoApp:
    """One installed demo app: the activity manager calls its lifecycle methods."""

    def __init__(self, device, package: str = contract.PACKAGE):
        self.device, self.package = device, package
        self.running: dict | None = None  # the last MOBIKIT_MODEL report of the camera screen
        self.received: list[str | None] = []  # the model extra of every intent MainActivity got
        self.interrupted = threading.Event()
        self.killed = threading.Event()  # the process is gone: a running benchmark stops and writes nothing
        self.benchmark: threading.Thread | None = None
        self.pid = 4242
        # the app's two threads that run core: the main thread (camera screen) and the benchmark's worker
        self.main_thread, self.worker = AppCore(device.app_core), AppCore(device.app_core)
        self.closed = False

    def close(self) -> None:
        """The simulator stops: so does the app's JVM."""
        self.closed = True
        self.main_thread.close()
        self.worker.close()

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def process_started(self) -> None:
        self.pid += 1
        self.killed = threading.Event()

    def process_killed(self) -> None:
        self.running = None
        self.killed.set()
        self.interrupted.set()

    def created(self, record) -> None:
        files = self.device.host_path(self.device.app_files_dir(self.package))
        for sub in (contract.MODELS_SUBDIR, contract.RESULTS_SUBDIR):  # getExternalFilesDir(...) makes them
            (files / sub).mkdir(parents=True, exist_ok=True)
        if record.name == MAIN:
            self.take_model_request(record.intent["extras"])
        elif record.name == BENCHMARK:
            self.interrupted.clear()
            self.benchmark = threading.Thread(target=self._benchmark, args=(record,), daemon=True)
            self.benchmark.start()

    def new_intent(self, record, intent: dict) -> None:
        if record.name == MAIN:
            self.take_model_request(intent["extras"])

    def paused(self, record) -> None:
        if record.name == BENCHMARK and "onPause" in self.device.activities.declared[BENCHMARK].overrides:
            self.interrupted.set()

    def destroyed(self, record) -> None:
        pass

    # --- the camera screen ---------------------------------------------------------------------------------------

    def log(self, tag: str, message: str, priority: str = "I") -> None:
        self.device.logcat.write(tag, message, priority, pid=self.pid)

    def take_model_request(self, extras: dict) -> None:
        name, sha256 = extras.get(contract.EXTRA_MODEL), extras.get(contract.EXTRA_SHA256)
        request = extras.get(contract.EXTRA_RESULT_ID)
        self.received.append(name)
        if name is None:
            return
        refusal = self.import_model(name, sha256) if sha256 is not None else None
        if refusal is None and self._installed(name) is None:
            refusal = f"model {name} not found"
        if refusal is not None:
            self._report({"name": name, "delegate": DEFAULT_DELEGATE, "error": refusal, "result_id": request}, "W")
            return
        self.load(name, DEFAULT_DELEGATE, request)

    def load(self, name: str, delegate: str, request: str | None = None) -> None:
        folder = self._internal(name)
        asked = {"name": name, "entry": {"name": name, "sha256": self._installed(name)}, "delegate": delegate,
                 "result_id": request}
        try:
            lines = delegates.apply(self.device, delegates.Graph.of(folder / contract.MODEL_FILE), delegate,
                                    XNNPACK_FOR[delegate])
        except delegates.DelegateRefused as refused:
            self._report({**asked, "refused": str(refused)}, "W")
            return
        for line in lines:
            self.log("tflite", line)
        self._report({**asked, "log": "\n".join(lines)}, "I")

    def _report(self, request: dict, priority: str) -> None:
        """Logs the line core's modelReportLine makes (it is what `mobikit deploy` waits for)."""
        line = self.main_thread.ask({"op": "model_report", **request})["line"]
        report = json.loads(line.split(" ", 1)[1])
        if report["error"] is None:
            self.running = report
        self.log(contract.LOGCAT_TAG, line, priority)

    # --- internal storage ----------------------------------------------------------------------------------------

    def _models(self):
        return self.device.host_path(f"{internal_dir(self.package)}/files/{contract.MODELS_SUBDIR}")

    def _internal(self, name: str):
        return self.device.host_path(f"{internal_dir(self.package)}/files/{contract.MODELS_SUBDIR}/{name}")

    def _installed(self, name: str) -> str | None:
        digest = self._internal(name) / DIGEST_FILE
        return digest.read_text().strip() if digest.is_file() else None

    def import_model(self, name: str, expected: str) -> str | None:
        """Core's ModelImporter: copy, verify the copy, rename into internal storage; the refusal reason or None."""
        if self._installed(name) == expected:
            return None
        staged = self.device.host_path(f"{contract.MODELS_DIR}/{name}")
        missing = [f for f in contract.MODEL_FILES if not (staged / f).is_file()]
        if missing:
            return f"deployed {name} lacks {', '.join(missing)}"
        live = self._internal(name)
        importing = live.with_name(f".{name}.importing")
        shutil.rmtree(importing, ignore_errors=True)
        importing.mkdir(parents=True)
        try:
            for file in contract.MODEL_FILES:
                shutil.copyfile(staged / file, importing / file)
            declared = json.loads((importing / contract.MODEL_JSON).read_text()).get("sha256")
            actual = hashlib.sha256((importing / contract.MODEL_FILE).read_bytes()).hexdigest()
            if actual != declared:
                return f"refused {name}: model.tflite sha256 {actual[:12]}… is not the {str(declared)[:12]}… its model.json names"
            if actual != expected:
                return f"refused {name}: model.tflite sha256 {actual[:12]}… is not the {expected[:12]}… the deploy sent"
            (importing / DIGEST_FILE).write_text(actual)
            old = live.with_name(f".{name}.old")
            if live.exists():
                os.replace(live, old)
            os.replace(importing, live)
            shutil.rmtree(old, ignore_errors=True)
            return None
        finally:
            shutil.rmtree(importing, ignore_errors=True)

    # --- benchmark mode ------------------------------------------------------------------------------------------

    def _benchmark(self, record) -> None:
        extras = record.intent["extras"]
        name, sha256 = extras.get(contract.EXTRA_MODEL), extras.get(contract.EXTRA_SHA256)
        refused = self.import_model(name, sha256) if name is not None and sha256 is not None else None
        props = self.device.props
        phone = {"device": props["ro.product.device"], "manufacturer": props["ro.product.manufacturer"],
                 "model": props["ro.product.model"], "soc_manufacturer": props["ro.soc.manufacturer"],
                 "soc_model": props["ro.soc.model"], "hardware": props["ro.hardware"],
                 "release": props["ro.build.version.release"], "sdk": int(props["ro.build.version.sdk"])}
        interpreter = Interpreter(self, self._internal(str(name)) / contract.MODEL_FILE)
        try:
            answer = self.worker.ask({"op": "benchmark", "extras": extras, "phone": phone, "refused": refused,
                                      "models_dir": str(self._models())}, interpreter.calls)
        except AppCoreError as crash:  # an uncaught exception kills a real app with this logcat entry
            if not self.closed:
                self.log("AndroidRuntime", f"FATAL EXCEPTION: {crash}", "E")
            return
        if self.killed.is_set() or not self.device.root.is_dir():  # process killed, or the phone put away
            return
        # what the phone side measured: core's report, and the native time of every inference it asked for
        self.device.measured.append({"tool": "app", "received": dict(extras), "measured": json.loads(answer["json"]),
                                     "inference_ns": interpreter.inference_ns})
        if answer["file"] is not None:
            target = self.device.host_path(answer["file"])
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.tmp")
            partial.write_text(answer["json"])
            os.replace(partial, target)
        self.log(contract.LOGCAT_TAG, answer["line"])
        self.device.activities.finished(record)


class Interpreter:
    """The benchmark's interpreter, which core's session drives through `calls`: the host's LiteRT, built with the
    delegate applied as the phone's LiteRT would (delegates.py), fed core's input bytes, timed per invoke."""

    def __init__(self, app: DemoApp, path):
        self.app, self.path = app, path
        self.interpreter = None
        self.inference_ns: list[int] = []  # every run core asked for: first, warm-up, timed
        self.calls = {"open": self.open, "allocate": self.allocate, "run": self.run, "close": self.close,
                      "foreground": self.foreground}

    def open(self, message: dict) -> dict:
        from mobikit.inference import make_interpreter

        delegate = message["delegate"]
        try:
            lines = delegates.apply(self.app.device, delegates.Graph.of(self.path), delegate, XNNPACK_FOR[delegate])
        except delegates.DelegateRefused as refused:
            return {"refused": str(refused)}
        for line in lines:
            self.app.log("tflite", line)
        self.interpreter = make_interpreter(self.path, message["threads"],
                                            "xnnpack" if XNNPACK_FOR[delegate] else "cpu")
        detail = self.interpreter.get_input_details()[0]
        dtype = np.dtype(detail["dtype"])
        return {"log": "\n".join(lines), "input_type": dtype.name,
                "input_bytes": int(np.prod(detail["shape"])) * dtype.itemsize}

    def allocate(self, message: dict) -> dict:
        detail = self.interpreter.get_input_details()[0]
        data = np.frombuffer(base64.b64decode(message["input"]), dtype=detail["dtype"]).reshape(detail["shape"])
        self.interpreter.set_tensor(detail["index"], data)
        return {}

    def run(self, message: dict) -> dict:
        began = time.perf_counter_ns()
        self.interpreter.invoke()
        self.inference_ns.append(time.perf_counter_ns() - began)
        return {"nanos": self.inference_ns[-1]}

    def close(self, message: dict) -> dict:
        self.interpreter = None
        return {}

    def foreground(self, message: dict) -> dict:
        return {"foreground": not self.app.interrupted.is_set()}
