"""`mobikit demo` headless with a real ImageNet int8 model: a video written from photos, an image folder, no camera."""

import json

import cv2
import pytest

from mobikit.demo import demo
from mobikit.quantize import QuantizeRequest, quantize

from conftest import PHOTOS, assert_clean_failure, link_images, run_cli

SCENES = ("cat", "pizza", "shuttle")
FRAMES_PER_PHOTO = 4
SIZE = (320, 240)


@pytest.fixture(scope="module")
def trained(shared, tmp_path_factory):
    """V1 α0.25@128 with its ImageNet weights, quantized to int8."""
    output = tmp_path_factory.mktemp("demo") / "v1_025_128"
    quantize(QuantizeRequest(alpha=0.25, resolution=128, calib=PHOTOS, calib_samples=4, output=output,
                             bias_correction=False))
    return output


@pytest.fixture(scope="module")
def video(shared, tmp_path_factory):
    """A short clip: several identical frames of each photo in turn."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE)
    for name in SCENES:
        frame = cv2.resize(cv2.imread(str(PHOTOS / f"{name}.jpg")), SIZE)
        for _ in range(FRAMES_PER_PHOTO):
            writer.write(frame)
    writer.release()
    return path


def count_frames(path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    count, size = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count, size = count + 1, (frame.shape[1], frame.shape[0])
    capture.release()
    return count, size


def test_video_top1_follows_the_photo_and_the_annotated_video_is_written(trained, video, tmp_path):
    annotated = tmp_path / "annotated.mp4"
    result = run_cli("demo", "--model", str(trained), "--source", str(video), "--output", str(annotated),
                     "--no-window", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == len(SCENES) * FRAMES_PER_PHOTO and not summary["window"]
    assert summary["mean_latency_ms"] > 0 and summary["fps"] > 0
    segments = [summary["top1"][i * FRAMES_PER_PHOTO:(i + 1) * FRAMES_PER_PHOTO] for i in range(len(SCENES))]
    assert all(len(set(segment)) == 1 for segment in segments), segments
    assert segments[0][0] != segments[1][0] != segments[2][0], segments
    assert segments[1][0] == "pizza" and segments[2][0] == "space_shuttle"
    assert count_frames(annotated) == (len(SCENES) * FRAMES_PER_PHOTO, SIZE)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_image_folder_is_shown_in_sequence(trained, tmp_path):
    folder = link_images(tmp_path / "photos", [PHOTOS / f"{name}.jpg" for name in SCENES])
    summary = demo(trained, str(folder), window=False)
    assert summary.frames == 3 and summary.top1[1:] == ["pizza", "space_shuttle"]


def test_camera_that_cannot_be_opened_is_a_one_line_error(trained):
    result = run_cli("demo", "--model", str(trained), "--source", "9", "--no-window")
    assert_clean_failure(result, 1)
    assert result.stderr.strip().count("\n") == 0 and "cannot open camera 9" in result.stderr


def test_missing_source_is_a_usage_error(trained, tmp_path):
    result = run_cli("demo", "--model", str(trained), "--source", str(tmp_path / "missing.mp4"), "--no-window")
    assert_clean_failure(result, 2)
