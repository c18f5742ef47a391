"""The demo app's behaviour on the simulated phone, as android_app's Kotlin does it.

MainActivity (onCreate and, when the class overrides it, onNewIntent): a `model` + `sha256` intent imports the
deployed folder from app-specific external storage into internal storage — the copy is verified, model.tflite's
sha256 must equal what model.json names and what the intent sent (core's ModelImporter) — then loads it and logs
one `MOBIKIT_MODEL <json>` line (contract.MODEL_KEYS) with the delegate coverage read from the `tflite` lines it
logged (mobikit.android.coverage, the Python mirror of core's DelegateCoverage); a refusal is logged with the reason.
BenchmarkActivity: imports the same way, then times the model on the host LiteRT interpreter following
benchmark_model's rules (warm-up runs and seconds, timed runs and min_secs, max_secs), checks before every run that
it is still in the foreground (onPause), writes the result JSON and logs `MOBIKIT_BENCH <json>`, and finishes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time

from mobikit.android import contract
from mobikit.android.coverage import delegate_report
from mobikit.latency import random_inputs
from mobikit.stats import summarize

from . import delegates
from .storage import internal_dir

MAIN, BENCHMARK = (a.rsplit(".", 1)[-1] for a in (contract.MAIN_ACTIVITY, contract.BENCHMARK_ACTIVITY))
XNNPACK_FOR = {"cpu": False, "xnnpack": True, "gpu": True, "nnapi": True}  # core's Delegate.xnnpack
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
            self._report({"model": name, "error": refusal, "result_id": request}, "W")
            return
        self.load(name, "xnnpack", request)

    def load(self, name: str, delegate: str, request: str | None = None) -> None:
        folder = self._internal(name)
        try:
            lines = delegates.apply(self.device, delegates.Graph.of(folder / contract.MODEL_FILE), delegate,
                                    XNNPACK_FOR[delegate])
        except delegates.DelegateRefused as refused:
            self._report({"model": name, "delegate": delegate, "error": str(refused), "result_id": request}, "W")
            return
        for line in lines:
            self.log("tflite", line)
        coverage = delegate_report(delegate, "\n".join(lines))
        self._report({"model": name, "sha256": self._installed(name), "origin": "deployed", "delegate": delegate,
                      "delegate_used": coverage["used"], "delegate_nodes": coverage["nodes"],
                      "graph_nodes": coverage["total_nodes"], "error": None, "result_id": request}, "I")

    def _report(self, values: dict, priority: str) -> None:
        report = {key: values.get(key) for key in contract.MODEL_KEYS}
        if report["error"] is None:
            self.running = report
        self.log(contract.LOGCAT_TAG, f"{contract.LOGCAT_MODEL_PREFIX} {json.dumps(report)}", priority)

    # --- internal storage ----------------------------------------------------------------------------------------

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
        name, delegate = extras.get(contract.EXTRA_MODEL), extras.get(contract.EXTRA_DELEGATE, "xnnpack")
        threads = int(extras.get(contract.EXTRA_THREADS, 2))
        props = self.device.props
        report = dict.fromkeys(contract.RESULT_KEYS)
        report.update(device=props["ro.product.device"], model=name, threads=threads, delegate=delegate,
                      device_model=f"{props['ro.product.manufacturer']} {props['ro.product.model']}",
                      soc=f"{props['ro.soc.manufacturer']} {props['ro.soc.model']}",
                      android=f"{props['ro.build.version.release']} (API {props['ro.build.version.sdk']})",
                      interrupted=False, result_id=extras.get(contract.EXTRA_RESULT_ID))
        try:
            report.update(self._measure(name, delegate, threads, extras))
        except delegates.DelegateRefused as refused:
            report["error"] = f"{delegate} delegate unavailable on this device: {refused}"
        except LookupError as missing:
            report["error"] = str(missing.args[0])
        if self.killed.is_set() or not self.device.root.is_dir():  # process killed, or the phone put away
            return
        self.device.measured.append({"tool": "app", "received": dict(extras), "measured": dict(report)})
        result_id = extras.get(contract.EXTRA_RESULT_ID, "result")
        target = self.device.host_path(f"{contract.RESULTS_DIR}/{result_id}{contract.RESULT_SUFFIX}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.tmp")
        partial.write_text(json.dumps(report))
        os.replace(partial, target)
        self.log(contract.LOGCAT_TAG, f"{contract.LOGCAT_PREFIX} {json.dumps(report)}")
        self.device.activities.finished(record)

    def _measure(self, name: str, delegate: str, threads: int, extras: dict) -> dict:
        from mobikit.inference import make_interpreter

        sha256 = extras.get(contract.EXTRA_SHA256)
        refusal = self.import_model(name, sha256) if sha256 else None
        if refusal is not None:
            raise LookupError(refusal)
        path = self._internal(name) / contract.MODEL_FILE
        if not path.is_file():
            raise LookupError(f"model {name} not found among the deployed models or in the APK")
        if delegate not in contract.DELEGATES:
            raise LookupError(f"unknown delegate {delegate}: choose one of {', '.join(contract.DELEGATES)}")
        size = path.stat().st_size
        lines = delegates.apply(self.device, delegates.Graph.of(path), delegate, XNNPACK_FOR[delegate])
        for line in lines:
            self.log("tflite", line)
        coverage = delegate_report(delegate, "\n".join(lines))
        number = lambda key, default: float(extras.get(key, default))  # noqa: E731
        warm_runs, warm_secs = int(extras.get(contract.EXTRA_WARMUP_RUNS, 5)), number(contract.EXTRA_WARMUP_MIN_SECS, 0.5)
        runs, min_secs, max_secs = (int(extras.get(contract.EXTRA_NUM_RUNS, 50)),
                                    number(contract.EXTRA_MIN_SECS, 1.0), number(contract.EXTRA_MAX_SECS, 150.0))
        start = time.perf_counter()
        interpreter = make_interpreter(path, threads, "xnnpack" if coverage["used"] != "cpu" else "cpu")
        init_ms = (time.perf_counter() - start) * 1e3
        for detail, value in zip(interpreter.get_input_details(), random_inputs(interpreter)):
            interpreter.set_tensor(detail["index"], value)

        def invoke() -> float:
            began = time.perf_counter()
            interpreter.invoke()
            return (time.perf_counter() - began) * 1e3

        first_ms = invoke()
        warmups, began = 0, time.perf_counter()
        while (warmups < warm_runs or time.perf_counter() - began < warm_secs) and time.perf_counter() - began < max_secs:
            if self.interrupted.is_set():
                break
            invoke()
            warmups += 1
        warmup_mean_ms = (time.perf_counter() - began) * 1e3 / warmups if warmups else None
        timed, began = [], time.perf_counter()
        while (len(timed) < runs or time.perf_counter() - began < min_secs) and time.perf_counter() - began < max_secs:
            if self.interrupted.is_set():
                break
            timed.append(invoke())
        values = {"init_ms": init_ms, "first_ms": first_ms, "size_bytes": size, "peak_rss_mb": None,
                  "timing": "native", "warmup_runs": warmups, "warmup_mean_ms": warmup_mean_ms,
                  "delegate_used": coverage["used"],
                  "delegate_nodes": coverage["nodes"], "graph_nodes": coverage["total_nodes"],
                  "delegate_note": coverage["note"]}
        if timed:
            values.update(summarize(timed).to_json())
            values.update(wall_mean_ms=values["mean_ms"], wall_median_ms=values["median_ms"])
        if self.interrupted.is_set():
            values.update(interrupted=True, error=f"interrupted: the benchmark activity left the foreground after "
                                                  f"{len(timed)} of at least {runs} timed runs")
        return values
