"""Runs inside the isolated MediaPipe venv (never imports mobikit): MediaPipe Tasks' ImageClassifier and MediaPipe's
own generated metadata schema code, as a user of mobikit's models would run them. Prints one JSON object.

stdin: {"models": [model.tflite paths], "images": "crops.npy" (N×R×R×3 uint8 RGB), "write_metadata": path}
stdout: {"mediapipe": version, "models": {path: {"top": [[{index, name, score}, ...] per image], "metadata": {...}}}}
"""

import io
import json
import sys
import zipfile

import numpy as np

import mediapipe as mp
from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
from mediapipe.tasks.metadata import schema_py_generated as model_fb
from mediapipe.tasks.python import BaseOptions, vision

TOP = 5


def classify(model_path: str, images: np.ndarray) -> list[list[dict]]:
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model_path), max_results=TOP)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        tops = []
        for pixels in images:
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB,
                                                  data=np.ascontiguousarray(pixels)))
            tops.append([{"index": c.index, "name": c.category_name, "score": c.score}
                         for c in result.classifications[0].categories])
        return tops


def text(value) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def floats(values) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


def read_metadata(model_path: str) -> dict:
    """The model's metadata as MediaPipe's generated schema code reads it."""
    data = open(model_path, "rb").read()
    model = model_fb.Model.GetRootAs(data, 0)
    entries = {text(model.Metadata(i).Name()): model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    buffer = model.Buffers(entries["TFLITE_METADATA"]).DataAsNumpy().tobytes()
    root = metadata_fb.ModelMetadataT.InitFromPackedBuf(buffer, 0)
    image = root.subgraphMetadata[0].inputTensorMetadata[0]
    scores = root.subgraphMetadata[0].outputTensorMetadata[0]
    normalization = image.processUnits[0]
    return {
        "identifier": metadata_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0),
        "name": text(root.name), "min_parser_version": text(root.minParserVersion),
        "input_content": image.content.contentPropertiesType,
        "color_space": image.content.contentProperties.colorSpace,
        "normalization_type": normalization.optionsType,
        "mean": floats(normalization.options.mean), "std": floats(normalization.options.std),
        "input_stats": [floats(image.stats.min), floats(image.stats.max)] if image.stats else None,
        "output_files": [{"name": text(f.name), "type": f.type} for f in scores.associatedFiles],
        "packed": zipfile.ZipFile(io.BytesIO(data)).namelist(),
    }


def write_metadata(path: str) -> None:
    """A ModelMetadata built and packed with MediaPipe's generated code, for mobikit's reader to read."""
    import flatbuffers

    normalization = metadata_fb.NormalizationOptionsT()
    normalization.mean, normalization.std = [0.5, 1.5, 2.5], [3.0, 4.0, 5.0]
    unit = metadata_fb.ProcessUnitT()
    unit.optionsType, unit.options = metadata_fb.ProcessUnitOptions.NormalizationOptions, normalization
    image = metadata_fb.TensorMetadataT()
    image.name, image.content = "pixels", metadata_fb.ContentT()
    image.content.contentPropertiesType = metadata_fb.ContentProperties.ImageProperties
    image.content.contentProperties = metadata_fb.ImagePropertiesT()
    image.content.contentProperties.colorSpace = metadata_fb.ColorSpaceType.GRAYSCALE
    image.processUnits = [unit]
    labels = metadata_fb.AssociatedFileT()
    labels.name, labels.type = "names.txt", metadata_fb.AssociatedFileType.TENSOR_AXIS_LABELS
    scores = metadata_fb.TensorMetadataT()
    scores.name, scores.associatedFiles = "scores", [labels]
    scores.stats = metadata_fb.StatsT()
    scores.stats.min, scores.stats.max = [0.0], [1.0]
    subgraph = metadata_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata, subgraph.outputTensorMetadata = [image], [scores]
    root = metadata_fb.ModelMetadataT()
    root.name, root.version, root.author, root.minParserVersion = "foreign", "7", "MediaPipe schema code", "1.0.0"
    root.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(root.Pack(builder), b"M001")
    with open(path, "wb") as handle:
        handle.write(builder.Output())


def main() -> None:
    request = json.load(sys.stdin)
    images = np.load(request["images"])
    write_metadata(request["write_metadata"])
    report = {path: {"top": classify(path, images), "metadata": read_metadata(path)} for path in request["models"]}
    json.dump({"mediapipe": mp.__version__, "models": report}, sys.stdout)


if __name__ == "__main__":
    main()
