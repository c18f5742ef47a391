"""`mobikit demo` headless with a real ImageNet int8 model: a video written from photos, an image folder, no camera.

The expected labels are never literals: an int8 model calibrated on four photos has near ties (pizza vs potpie
within one quantization step), and XNNPACK picks different int8 kernels per CPU, so the class of a borderline frame
differs between machines. Each frame's expected label is what the same model says through the evaluation path
(`TFLiteClassifier` on the eval pipeline's decoding and preprocessing) on this machine.
"""

import json

import cv2
import numpy as np
import pytest

from mobikit.images import read_image
from mobikit.live_demo import demo
from mobikit.evaluation import load_classifier
from mobikit.preprocess import preprocess, to_rgb
from mobikit.quantization import QuantizeRequest, quantize

from support import assert_clean_failure, embedded_images, link_images, run_cli

pytestmark = pytest.mark.predictions
PHOTOS = embedded_images()
SCENES = ("cat", "pizza", "taxis")
FRAMES_PER_PHOTO = 4
SIZE = (320, 240)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """V1 α0.25@224 with the ImageNet weights the package ships, quantized to int8."""
    output = tmp_path_factory.mktemp("demo") / "v1_025_224"
    quantize(QuantizeRequest(alpha=0.25, resolution=224, calib=PHOTOS, calib_samples=4, eval_samples=4,
                             output=output, bias_correction=False))
    return output


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A short clip: several identical frames of each photo in turn."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE)
    for name in SCENES:
        frame = cv2.resize(cv2.imread(str(PHOTOS / f"{name}.jpg")), SIZE)
        for _ in range(FRAMES_PER_PHOTO):
            writer.write(frame)
    writer.release()
    return path


def video_frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def top1_names(model, rgb_images) -> list[str]:
    """The model's top-1 label per image through the evaluation path (not the demo's code)."""
    classifier = load_classifier(model)
    return [classifier.class_list.names[int(np.argmax(classifier.predict(preprocess(rgb, classifier.resolution)[None])[0]))]
            for rgb in rgb_images]


def test_video_top1_follows_the_photo_and_the_annotated_video_is_written(trained, video, tmp_path):
    annotated = tmp_path / "annotated.mp4"
    result = run_cli("demo", "--model", str(trained), "--source", str(video), "--output", str(annotated),
                     "--no-window", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == len(SCENES) * FRAMES_PER_PHOTO and not summary["window"]
    assert summary["mean_latency_ms"] > 0 and summary["fps"] > 0
    assert summary["top1"] == top1_names(trained, [to_rgb(frame) for frame in video_frames(video)])
    frames = video_frames(annotated)
    assert len(frames) == len(SCENES) * FRAMES_PER_PHOTO and {f.shape[1::-1] for f in frames} == {SIZE}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_image_folder_is_shown_in_sequence(trained, tmp_path):
    folder = link_images(tmp_path / "photos", [PHOTOS / f"{name}.jpg" for name in SCENES])
    summary = demo(trained, str(folder), window=False)
    assert summary.frames == 3
    assert summary.top1 == top1_names(trained, [read_image(PHOTOS / f"{name}.jpg") for name in SCENES])


def test_unreadable_images_are_skipped_and_counted(tiny_output, tmp_path):
    """Text renamed .jpg among photos: the demo classifies the photos and counts the rest, like every command; a
    folder with no readable image at all is refused before the model is even looked at (here: a model that does
    not exist, so a later check would name it instead)."""
    folder = link_images(tmp_path / "mixed", [PHOTOS / "cat.jpg", PHOTOS / "pizza.jpg"])
    (folder / "notes.jpg").write_text("a text file renamed .jpg")
    result = run_cli("demo", str(tiny_output), "--source", str(folder), "--no-window", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["frames"], summary["skipped"]) == (2, 1)
    assert "skipped 1 of 3 files that are not readable images" in result.stderr
    only_text = tmp_path / "only-text"
    only_text.mkdir()
    (only_text / "a.jpg").write_text("not a jpeg")
    refused = run_cli("demo", str(tmp_path / "no-model.tflite"), "--source", str(only_text), "--no-window")
    assert_clean_failure(refused, 2)
    assert "none of the 1 image files in --source" in refused.stderr and "no-model" not in refused.stderr
