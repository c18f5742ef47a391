"""The `serve` verb: mobikit output folders in a browser page — the camera live, or an image file — run by
LiteRT.js on the page's own machine (a phone, over `adb reverse`), with the project's one preprocessing rule.

Steps: check each folder (model.json against its files) and that LiteRT.js's WebAssembly runtime can run its model
(static shapes, no custom ops, int8/uint8/float32 input and output); listen; with a device, forward the phone's
`localhost:PORT` to this server and open the page in its browser; serve until stopped. Leaving the `with` block —
however it ends — stops the server and removes the forward rule it made.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .errors import UsageError
from .progress import Reporter

if TYPE_CHECKING:
    from .inspection import InspectResult

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
BROWSER_DTYPES = ("int8", "uint8", "float32")  # the tensor types the page feeds and reads
# ops seen running in LiteRT.js 2.5.3's WebAssembly runtime on mobikit's models (docs/serve.md); others may run too
BROWSER_TRIED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "SOFTMAX", "RESHAPE", "FULLY_CONNECTED",
                               "ADD", "QUANTIZE", "DEQUANTIZE", "AVERAGE_POOL_2D", "PAD", "RELU6"})
HOST_WARNING = ("listening on {host}: anyone on the network can open the page and download the models (there is no "
                "login), and browsers give the camera only to a secure context — http://localhost or HTTPS — so on "
                "another device the page has Image file mode only; for a phone, prefer --device")


@dataclass(frozen=True)
class ServedModel:
    """One output folder as the page gets it."""

    name: str
    folder: Path
    resolution: int
    input: dict
    output: dict
    preprocessing: dict
    labels: list[str]
    model_bytes: bytes = field(repr=False, default=b"")

    def to_page(self, index: int) -> dict:
        return {"name": self.name, "resolution": self.resolution, "input": self.input, "output": self.output,
                "preprocessing": self.preprocessing, "labels": self.labels,
                "model_url": f"/models/{index}/model.tflite"}


@dataclass
class ServeSession:
    """A running `serve`: where the page is, what it serves, and the phone it was opened on."""

    url: str
    host: str
    port: int
    models: list[ServedModel]
    device: str | None = None
    serial: str | None = None
    phone_url: str | None = None
    opened_on_phone: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"url": self.url, "host": self.host, "port": self.port,
                "models": [{"name": m.name, "folder": str(m.folder), "resolution": m.resolution,
                            "input": m.input["dtype"]} for m in self.models],
                "device": self.device, "serial": self.serial, "phone_url": self.phone_url,
                "opened_on_phone": self.opened_on_phone}


def browser_problems(inspected: "InspectResult") -> list[str]:
    """Why LiteRT.js's WebAssembly runtime cannot run a model (empty when it can), from `inspect`'s reading of it:
    shapes not fixed in the file (a free batch dimension, shapes computed at run time), custom or Flex ops (not built
    into LiteRT.js), input/output types the page cannot feed or read."""
    problems = [f"{kind} '{tensor.name}' is {tensor.dtype} (the page feeds and reads {', '.join(BROWSER_DTYPES)})"
                for kind, tensors in (("input", inspected.inputs), ("output", inspected.outputs))
                for tensor in tensors if tensor.dtype not in BROWSER_DTYPES]
    if inspected.dynamic_tensors:
        first = inspected.dynamic_tensors[0]
        problems.append(f"{len(inspected.dynamic_tensors)} tensors have a dynamic shape (first: '{first.name}' "
                        f"{list(first.shape_signature)}; LiteRT.js needs a static [1, R, R, 3] graph: re-run quantize "
                        "with this mobikit)")
    elif inspected.shape_ops:
        problems.append("the graph computes shapes at run time (" +
                        ", ".join(sorted({op.op for op in inspected.shape_ops})) + "): LiteRT.js needs static shapes")
    custom = sorted(op[len("CUSTOM:"):] for op in inspected.op_counts if op.startswith("CUSTOM:"))
    if custom:
        problems.append(f"custom ops LiteRT.js does not have: {', '.join(custom)}")
    return problems


def untried_ops(inspected: "InspectResult") -> list[str]:
    """Builtin ops of a model that mobikit has not seen LiteRT.js run (they may well run: the page says if not)."""
    return sorted(op for op in inspected.op_counts if op not in BROWSER_TRIED_OPS and not op.startswith("CUSTOM:"))


def load_served_model(folder: str | os.PathLike, reporter: Reporter) -> ServedModel:
    """An output folder checked like every command checks one, then checked for the browser runtime."""
    from .description import load_output_folder
    from .inspection import inspect_model

    checked = load_output_folder(folder, "folders")
    model_bytes = checked.model_path.read_bytes()
    if hashlib.sha256(model_bytes).hexdigest() != checked.description.sha256:
        raise UsageError("{path} changed while mobikit read it: try again", path=str(checked.model_path))
    inspected = inspect_model(checked.model_path)
    problems = browser_problems(inspected)
    if problems:
        raise UsageError("LiteRT.js in the browser cannot run {path}: {problems}", path=str(checked.model_path),
                         problems="; ".join(problems))
    untried = untried_ops(inspected)
    if untried:
        reporter.warn(f"{checked.path.name}: ops not yet seen running in LiteRT.js: {', '.join(untried)} (the page "
                      "names the op if it cannot run)")
    described = checked.description
    return ServedModel(checked.path.name, checked.path.resolve(), described.resolution, described.input.to_json(),
                       described.output.to_json(), dict(described.preprocessing),
                       list(checked.class_list.names), model_bytes)


def _distinct_names(models: list[ServedModel]) -> list[ServedModel]:
    """The picker's names: the folder name, with its parent where two folders share a name, numbered if still equal."""
    from collections import Counter
    from dataclasses import replace

    clashing = {name for name, count in Counter(m.name for m in models).items() if count > 1}
    models = [replace(m, name=f"{m.folder.parent.name}/{m.name}") if m.name in clashing else m for m in models]
    seen: Counter[str] = Counter()
    named = []
    for model in models:
        seen[model.name] += 1
        named.append(replace(model, name=f"{model.name} ({seen[model.name]})") if seen[model.name] > 1 else model)
    return named


@contextmanager
def serving(folders: list[str | os.PathLike], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
            device: str | None = None, adb: str | os.PathLike | None = None,
            reporter: Reporter | None = None) -> Iterator[ServeSession]:
    """Serve the page for `folders` while the block runs; with `device`, also on that phone's localhost."""
    from .web_server import WebServer, models_json, routes

    reporter = reporter or Reporter()
    if not folders:
        raise UsageError("give at least one quantize output folder to serve", "folders")
    if not 0 <= port <= 65535:
        raise UsageError("{port} must be between 0 (a free port) and 65535, got {value}", "port", value=port)
    models = _distinct_names([load_served_model(folder, reporter) for folder in folders])
    table = routes(models_json([model.to_page(i) for i, model in enumerate(models)]),
                   [model.model_bytes for model in models])
    phone = _choose_phone(adb, device, reporter) if device is not None else None
    server = WebServer(table, host, port).start()
    try:
        shown_host = f"[{server.host}]" if ":" in server.host else server.host
        session = ServeSession(f"http://{shown_host}:{server.port}/", server.host, server.port, models)
        if not server.loopback_only:
            session.warnings.append(HOST_WARNING.format(host=server.host))
            reporter.warn(session.warnings[-1])
        if phone is None:
            yield session
        else:
            yield from _on_phone(session, phone, reporter)
    finally:
        server.stop()


def _choose_phone(adb, device: str, reporter: Reporter):
    """A phone of this host's adb server only: `adb reverse` listens on the phone and carries each connection to a
    port on the adb server's own host, so through another host's server the phone would reach that host, not this
    server. $MOBIKIT_ADB_SERVERS (the farm's servers) is therefore not used, and a warning says so."""
    from .android.adb import Adb, select_device
    from .android.farm import SERVERS_ENV
    from .errors import printable

    if os.environ.get(SERVERS_ENV, "").strip():
        reporter.warn(f"serve --device uses this host's adb server only, not ${SERVERS_ENV} "
                      f"({printable(os.environ[SERVERS_ENV])}): adb reverse carries the phone's connections to the "
                      "adb server's own host, which must be this one")
    return select_device(Adb(adb), device)


def _on_phone(session: ServeSession, phone, reporter: Reporter) -> Iterator[ServeSession]:
    from .android.reverse import open_url, reverse_port

    bound, chosen = phone
    session.device, session.serial = chosen.name, chosen.serial
    session.phone_url = f"http://localhost:{session.port}/"
    with reverse_port(bound, session.port):
        session.opened_on_phone = open_url(bound, session.phone_url, reporter)
        yield session
