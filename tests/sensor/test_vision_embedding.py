"""Appearance embeddings: the built-in descriptor and an operator's ONNX model projected to 1,024 values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sensors.vision.embedding import (
    EMBEDDING_DIM,
    ColourTextureEmbedder,
    OnnxReidEmbedder,
    ReidPreprocessing,
    crop_box,
    fixed_projection,
    project_to_embedding,
)


def person(shirt: tuple[int, int, int], trousers: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A 60x140 BGR figure: head, shirt, trousers on a noisy grey background."""
    image = rng.integers(90, 130, size=(140, 60, 3)).astype(np.uint8)
    image[5:25, 22:38] = (150, 170, 210)
    image[25:75, 12:48] = shirt
    image[75:135, 16:44] = trousers
    noise = rng.integers(-12, 13, size=image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def test_builtin_descriptor_is_a_deterministic_unit_vector() -> None:
    rng = np.random.default_rng(0)
    crop = person((30, 30, 200), (120, 60, 20), rng)
    embedder = ColourTextureEmbedder()
    vector = embedder.embed_crop(crop)
    assert vector.shape == (EMBEDDING_DIM,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(vector, embedder.embed_crop(crop))


def test_builtin_descriptor_is_closer_for_the_same_clothes() -> None:
    rng = np.random.default_rng(1)
    embedder = ColourTextureEmbedder()
    red_blue = embedder.embed_crop(person((30, 30, 200), (120, 60, 20), rng))
    red_blue_again = embedder.embed_crop(person((35, 25, 190), (115, 65, 25), rng)[2:, 1:])  # shifted, re-drawn
    green_grey = embedder.embed_crop(person((40, 180, 40), (90, 90, 90), rng))
    upside_down = embedder.embed_crop(person((30, 30, 200), (120, 60, 20), rng)[::-1])
    assert red_blue @ red_blue_again > red_blue @ green_grey + 0.2
    assert red_blue @ red_blue_again > red_blue @ upside_down  # stripes keep where colours are


def test_embed_crops_the_person_box_from_the_frame() -> None:
    rng = np.random.default_rng(2)
    frame = np.zeros((200, 300, 3), np.uint8)
    figure = person((30, 30, 200), (120, 60, 20), rng)
    frame[30:170, 100:160] = figure
    embedder = ColourTextureEmbedder()
    np.testing.assert_allclose(embedder.embed(frame, np.array([100, 30, 160, 170])), embedder.embed_crop(figure))
    with pytest.raises(ValueError, match="no area inside the frame"):
        embedder.embed(frame, np.array([400, 10, 450, 90]))
    assert crop_box(frame, np.array([-20, -5, 10.2, 20])).shape == (20, 11, 3)


def test_projection_pads_short_outputs_and_projects_long_ones() -> None:
    short = project_to_embedding(np.array([3.0, 4.0]))
    assert short.shape == (EMBEDDING_DIM,) and short[:2].tolist() == pytest.approx([0.6, 0.8]) and not short[2:].any()
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(2048), rng.standard_normal(2048)
    pa, pb = project_to_embedding(a), project_to_embedding(b)
    cosine = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert pa @ pb == pytest.approx(cosine, abs=0.1)  # angles survive the projection
    assert np.array_equal(fixed_projection(2048, EMBEDDING_DIM), fixed_projection(2048, EMBEDDING_DIM))
    with pytest.raises(ValueError, match="all-zero"):
        project_to_embedding(np.zeros(5))


def pooled_model(path: Path, out_channels: int) -> Path:
    """Input [1, 3, H, W] -> 1x1 conv to ``out_channels`` -> global average pool -> [1, out_channels]."""
    weights = np.random.default_rng(4).standard_normal((out_channels, 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["image", "w"], ["conv"]),
            helper.make_node("GlobalAveragePool", ["conv"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["features"]),
        ],
        "reid",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, out_channels])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("channels", [16, 2048])
def test_onnx_reid_model_output_becomes_a_1024_unit_vector(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(5)
    embedder = OnnxReidEmbedder(pooled_model(tmp_path / "reid.onnx", channels), ReidPreprocessing(32, 64))
    red = embedder.embed_crop(person((30, 30, 200), (120, 60, 20), rng))
    red_again = embedder.embed_crop(person((30, 30, 200), (120, 60, 20), rng))
    green = embedder.embed_crop(person((40, 180, 40), (40, 180, 40), rng))
    assert red.shape == (EMBEDDING_DIM,) and np.linalg.norm(red) == pytest.approx(1.0, abs=1e-5)
    assert red @ red_again > red @ green


EFFICIENTNET = Path(__file__).resolve().parents[2] / "models" / "appearance_efficientnet_lite0.onnx"


@pytest.mark.skipif(not EFFICIENTNET.is_file(), reason="appearance_efficientnet_lite0.onnx not built")
def test_shipped_efficientnet_backbone_as_reid_model() -> None:
    rng = np.random.default_rng(6)
    embedder = OnnxReidEmbedder(EFFICIENTNET)
    vector = embedder.embed_crop(person((30, 30, 200), (120, 60, 20), rng))
    assert vector.shape == (EMBEDDING_DIM,) and np.isfinite(vector).all()
