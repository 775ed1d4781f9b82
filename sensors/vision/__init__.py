"""Vision adapters: person detection, faces, demographics and appearance embeddings (onnxruntime, OpenCV)."""
