"""The anonymization sensor: camera frames in, anonymous contract events out (see sensors/README.md)."""

import os

# Official onnxruntime wheels (1.2x+) on Linux write a device id and an event cache under ~/.cache and
# $TMPDIR and try to upload them. The sensor sends nothing anywhere: opt out before onnxruntime loads
# (every sensors.* module is imported after this package, so this always runs first).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
