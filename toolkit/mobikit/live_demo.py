"""The `demo` verb: live classification of a camera, a video or a folder of images, annotated frame by frame.

Each frame goes through the same decoding and preprocessing as calibration and evaluation (`read_image` for image
files, `to_rgb` for camera and video frames, then `preprocess`) and through the model's own input quantization, so
what the demo shows is what `eval` measures. The top-3 labels, the inference latency and the FPS are drawn on the
frame; the frames go to a window when a display can be opened and to an mp4 file with `output` (written under a
temporary name, checked to hold every frame, then moved into place).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import MobikitError, UsageError
from .images import find_images, probe_images, read_image, skipped_message
from .metrics import top_classes
from .outputs import check_target, new_file
from .preprocess import preprocess, to_rgb
from .progress import Reporter

WINDOW = "mobikit demo"
IMAGE_FOLDER_FPS = 2.0  # an image folder plays as a slide show: each image is one frame, shown this often


@dataclass
class DemoSummary:
    """What the demo did: frames processed, mean inference latency, overall FPS, and each frame's top-1 label."""

    model: str
    source: str
    frames: int = 0
    mean_latency_ms: float | None = None
    fps: float | None = None
    top1: list[str] = field(default_factory=list)
    output: str | None = None
    window: bool = False
    interrupted: bool = False
    skipped: int = 0  # image files of a folder source that did not decode

    def to_json(self) -> dict:
        return asdict(self)


class Source:
    """Frames (BGR uint8) from a camera index, a video file or a folder of images."""

    def __init__(self, spec: str):
        self.spec = spec
        self.capture = None
        self.images: list[Path] = []
        self.skipped: list[Path] = []  # image files that did not decode, left out like every command leaves them
        path = Path(spec)
        if not spec.strip():  # Path("") is the current folder: never read it by accident
            raise UsageError("{source} is empty: give a camera index, a video file or an image folder", "source")
        if spec.isascii() and spec.isdigit():
            self.capture = self._open_capture(int(spec))
            if self.capture is None:
                raise MobikitError("cannot open camera {index}: no camera with that index, or it is in use (pass "
                                   "{source} VIDEO or {source} IMAGE_DIR to run without a camera)", "source",
                                   index=spec)
        elif path.is_dir():
            self.images = find_images(path, "source")
            probe_images(self.images, "source", path)
        elif path.is_file():
            self.capture = self._open_capture(str(path))
            if self.capture is None:
                raise MobikitError("cannot read video {path}: OpenCV cannot decode it", path=str(path))
        else:
            raise UsageError("{source} {value!r} is neither a camera index, a video file nor an image folder",
                             "source", value=spec)

    @staticmethod
    def _open_capture(target):
        import cv2

        from .runtime import captured_output

        with captured_output():  # OpenCV logs every backend it tried on stderr; the one-line error says it all
            capture = cv2.VideoCapture(target)
        if not capture.isOpened():
            capture.release()
            return None
        return capture

    @property
    def live(self) -> bool:
        """A camera delivers frames at its own pace; files are paced by the demo."""
        return self.capture is not None and self.spec.isascii() and self.spec.isdigit()

    @property
    def fps(self) -> float:
        """The source's frame rate: the capture's own (30 when it does not say), else the slide-show rate."""
        if self.capture is not None:
            import cv2

            rate = self.capture.get(cv2.CAP_PROP_FPS)
            if rate and 0 < rate < 1000:
                return float(rate)
            return 30.0
        return IMAGE_FOLDER_FPS

    def frames(self) -> Iterator[np.ndarray]:
        """RGB frames: camera and video frames converted from BGR, image files decoded upright like `eval` does."""
        if self.capture is not None:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    return
                yield to_rgb(frame)
        for path in self.images:
            rgb = read_image(path)
            if rgb is None:
                self.skipped.append(path)
            else:
                yield rgb

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()


def display_named() -> str | None:
    return os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or None


def display_available() -> bool:
    """A window can be opened: a display is named and a throw-away process can open a window on it (a display
    that is set but unreachable makes Qt abort the whole process, so the probe runs apart)."""
    import subprocess
    import sys

    if not display_named():
        return False
    probe = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
    try:
        return subprocess.run([sys.executable, "-c", probe], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` scaled to fit `size` (width, height) with its aspect ratio kept, centred on black bars."""
    import cv2

    width, height = size
    scale = min(width / frame.shape[1], height / frame.shape[0])
    inner = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    canvas = np.zeros((height, width, 3), np.uint8)
    left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
    canvas[top:top + inner[1], left:left + inner[0]] = cv2.resize(frame, inner, interpolation=cv2.INTER_AREA)
    return canvas


def annotate(frame: np.ndarray, top: list[tuple[str, float]], latency_ms: float, fps: float | None) -> np.ndarray:
    """Draw the top labels with scores, the inference latency and the FPS on a copy of the frame."""
    import cv2

    canvas = frame.copy()
    scale = max(0.5, min(canvas.shape[:2]) / 640)
    lines = [f"{name}: {score:.2f}" for name, score in top]
    lines.append(f"inference {latency_ms:.1f} ms" + (f"   {fps:.1f} FPS" if fps else ""))
    step = int(28 * scale)
    height = step * len(lines) + int(10 * scale)
    overlay = canvas.copy()
    cv2.rectangle(overlay, (0, 0), (canvas.shape[1], height), (0, 0, 0), -1)
    canvas = cv2.addWeighted(overlay, 0.55, canvas, 0.45, 0)
    for i, text in enumerate(lines):
        color = (80, 255, 80) if i == 0 else (255, 255, 255)
        cv2.putText(canvas, text, (int(8 * scale), step * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, color,
                    max(1, int(2 * scale)), cv2.LINE_AA)
    return canvas


class _Writer:
    """The annotated mp4 at the first frame's size; later frames of another size (image folders mix sizes) are
    letterboxed into it, never stretched."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps = path, fps
        self.writer = None
        self.size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self.writer is None:
            from cv2.utils import logging

            self.log_level = logging.getLogLevel()  # a failed write is reported once, by the error below
            logging.setLogLevel(logging.LOG_LEVEL_ERROR)
            self.size = (frame.shape[1], frame.shape[0])
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self.writer.isOpened():
                raise MobikitError("OpenCV cannot write an mp4v video to {path}", path=str(self.path))
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = letterbox(frame, self.size)
        if self.writer.write(frame) is False:  # OpenCV 5 reports a failed write (4.x returns None: see below)
            raise MobikitError("the annotated video could not be written (is the disk full?): nothing replaced")
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            from cv2.utils import logging

            self.writer.release()
            logging.setLogLevel(self.log_level)

    def check_complete(self) -> None:
        """OpenCV's writer ignores write errors (a full disk leaves a file without its index): read the file back
        and refuse to keep it unless it holds every frame."""
        import cv2

        capture = cv2.VideoCapture(str(self.path))
        try:
            readable = capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == self.frames
        finally:
            capture.release()
        if not readable:
            raise MobikitError("the annotated video could not be written completely (is the disk full?): nothing "
                               "replaced")


def demo(model: str | os.PathLike, source: str = "0", output: str | os.PathLike | None = None,
         window: bool | None = None, threads: int = 2, max_frames: int | None = None,
         reporter: Reporter | None = None, fps: float | None = None) -> DemoSummary:
    """Classify every frame of `source` until it ends (or Ctrl-C, or q/Esc in the window); return the summary.

    In a window, a video file or an image folder plays at `fps` frames per second (default: the video's own rate,
    2 for a slide show; 0: as fast as the model goes); headless runs go as fast as the model goes unless `fps` is
    given. A camera delivers frames at its own pace. The mp4 carries the paced rate, else the source's."""
    from .evaluation import load_classifier

    reporter = reporter or Reporter()
    if threads < 1:
        raise UsageError("{threads} must be >= 1", "threads")
    if fps is not None and not (0 <= fps <= 1000):
        raise UsageError("{fps} takes a rate from 0 (unpaced) to 1000 frames per second, got {value:g}", "fps",
                         value=fps)
    if output is not None:
        check_target(output, "demo-video", (model, source if Path(str(source)).exists() else None))
    if window and not display_available():
        raise MobikitError("cannot open a window: no display can be reached (DISPLAY={display}); run without a "
                           "window and write the frames to a video with {output} annotated.mp4",
                           "output", display=os.environ.get("DISPLAY", ""))
    capture = Source(str(source))  # a missing source or a folder without one readable image: before the load
    try:
        classifier = load_classifier(model, threads)
    except BaseException:
        capture.close()
        raise
    show = display_available() if window is None else window
    if window is None and not show and display_named():
        reporter.info(f"no window: the display {display_named()} cannot be reached, so the demo runs headless")
    pace = None if capture.live else (fps if fps is not None else capture.fps if show else 0) or None
    summary = DemoSummary(str(model), str(source), output=str(output) if output else None, window=show)
    try:
        if output is None:
            _loop(capture, classifier, None, show, max_frames, summary, reporter, pace)
        else:
            with new_file(output, "demo-video", (model,)) as tmp:
                writer = _Writer(tmp, pace or capture.fps)
                try:
                    _loop(capture, classifier, writer, show, max_frames, summary, reporter, pace)
                finally:
                    writer.close()
                if summary.frames == 0:
                    raise MobikitError("no frame could be read from {source}: nothing written to {output}",
                                       source=str(source), output=str(output))
                writer.check_complete()
    finally:
        capture.close()
        if show:
            _close_window()
    summary.skipped = len(capture.skipped)
    if summary.frames == 0 and capture.images and not summary.interrupted:
        raise MobikitError("none of the {count} images in {source} could be decoded", count=len(capture.images),
                           source=str(source))
    note = skipped_message(capture.skipped, len(capture.images))
    if note:
        reporter.warn(note)
    return summary


def _loop(capture: Source, classifier, writer: _Writer | None, show: bool, max_frames: int | None,
          summary: DemoSummary, reporter: Reporter, pace: float | None) -> None:
    """One FPS figure, on the overlay and in the summary: frames shown since the first over the time since the
    first (so the last frame's overlay shows the summary's number)."""
    import cv2

    latencies: list[float] = []
    first = time.perf_counter()
    fps = None
    names = classifier.class_list.names
    try:
        for rgb in reporter.track(capture.frames(), len(capture.images) or None, "classifying frames"):
            if pace is not None and summary.frames:  # frame i is due i / pace seconds after the first
                time.sleep(max(0.0, first + summary.frames / pace - time.perf_counter()))
            batch = preprocess(rgb, classifier.resolution)[None]
            began = time.perf_counter()
            scores = classifier.predict(batch)[0]
            latency_ms = (time.perf_counter() - began) * 1000
            top = [(names[i], float(scores[i])) for i in top_classes(scores, 3)]
            now = time.perf_counter()
            if summary.frames == 0:
                first = now
            elif now > first:
                fps = summary.frames / (now - first)
            annotated = annotate(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), top, latency_ms, fps)
            latencies.append(latency_ms)
            summary.top1.append(top[0][0])
            summary.frames += 1
            if writer is not None:
                writer.write(annotated)
            if show and not _show(annotated, 1):
                break
            if max_frames is not None and summary.frames >= max_frames:
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    if latencies:
        summary.mean_latency_ms = float(np.mean(latencies))
        summary.fps = fps


def _show(frame: np.ndarray, pause_ms: int) -> bool:
    """Show a frame; False when the user closes the demo (q or Esc)."""
    import cv2

    try:
        cv2.imshow(WINDOW, frame)
        key = cv2.waitKey(pause_ms) & 0xFF
    except cv2.error as exc:
        raise MobikitError("cannot open a window ({reason}); run without one and write the frames with {output} "
                           "annotated.mp4", "output", reason=str(exc).strip().splitlines()[-1]) from None
    return key not in (ord("q"), 27)


def _close_window() -> None:
    import cv2

    try:
        cv2.destroyAllWindows()
    except cv2.error:
        pass
