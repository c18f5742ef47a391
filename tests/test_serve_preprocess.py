"""The page's JavaScript preprocessing (mobikit/web/preprocess.js) against `mobikit.preprocess`, byte for byte,
run by Node.js on many sizes: every shipped photo at R = 96, 128, 160 and 224 (shrinking, and enlarging the photos
smaller than R / 0.875) and random images from 33 to 700 pixels a side, plus the input tensor's quantization. The
browser test checks the same in Chromium on the shipped photos; this one covers the geometry widely in seconds, and
the input table (`mobikit.input_grid`) for an int8 input under model.json's (p − 128) / 128."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from support import ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js (Debian: apt-get install nodejs)")
PREPROCESS_JS = ROOT / "toolkit" / "mobikit" / "web" / "preprocess.js"

CHECK = """
import fs from 'fs';
import {centerCrop, inputTable, inputTensor} from %s;
const cases = JSON.parse(fs.readFileSync(process.argv[2]));
const blob = fs.readFileSync(process.argv[3]);
const bad = [];
for (const c of cases) {
  const data = new Uint8Array(blob.buffer, blob.byteOffset + c.offset, c.width * c.height * 3);
  const want = new Uint8Array(blob.buffer, blob.byteOffset + c.crop, c.size * c.size * 3);
  const wantInput = new Int8Array(blob.buffer, blob.byteOffset + c.input, c.size * c.size * 3);
  const crop = centerCrop({width: c.width, height: c.height, data}, c.size);
  const input = inputTensor(crop, inputTable({mean: 128, std: 128}, c.spec));
  if (!crop.every((v, i) => v === want[i])) bad.push(`crop ${c.name}`);
  else if (!input.every((v, i) => v === wantInput[i])) bad.push(`input ${c.name}`);
}
console.log(JSON.stringify(bad));
"""


def test_javascript_rule_equals_python_rule(tmp_path):
    from mobikit.images import embedded_images, find_images, read_image
    from mobikit.input_grid import GRID, input_table
    from mobikit.preprocess import center_crop

    rng = np.random.default_rng(7)
    images = [(path.name, read_image(path)) for part in ("calibration", "verification")
              for path in find_images(embedded_images(part))]
    images += [(f"random_{i}", rng.integers(0, 256, (*rng.integers(33, 700, 2), 3), dtype=np.uint8))
               for i in range(24)]
    spec = {"dtype": "int8", "scale": 1 / 128, "zero_point": 0}
    table = input_table("int8", spec["scale"], spec["zero_point"], GRID)
    cases, chunks, offset = [], [], 0
    for name, rgb in images:
        for size in (96, 128, 160, 224):
            crop = center_crop(rgb, size)
            tensor = table[crop]
            parts = [np.ascontiguousarray(rgb).tobytes(), crop.tobytes(), tensor.tobytes()]
            cases.append({"name": f"{name}@{size}", "width": rgb.shape[1], "height": rgb.shape[0], "size": size,
                          "offset": offset, "crop": offset + len(parts[0]),
                          "input": offset + len(parts[0]) + len(parts[1]), "spec": spec})
            chunks += parts
            offset += sum(map(len, parts))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "cases.bin").write_bytes(b"".join(chunks))
    (tmp_path / "check.mjs").write_text(CHECK % json.dumps(PREPROCESS_JS.as_uri()))
    result = subprocess.run([NODE, str(tmp_path / "check.mjs"), str(tmp_path / "cases.json"),
                             str(tmp_path / "cases.bin")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(cases) == (59 + 24) * 4
    assert json.loads(result.stdout) == []
