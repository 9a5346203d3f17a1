"""Schemathesis hooks for tests/test_service_fuzz.py: image fields get real photos.

A JSON schema can say "a file" (format binary) or "base64" (format byte) but not "a photo with a face", so random
bytes would be refused by the server with 400 invalid_image, rightly, and counted as schema-valid requests
rejected. These strategies draw from a few real LFW photos (named by $FACEPRINT_FUZZ_IMAGES, one path a line),
so every schema-valid request carries a readable photo with one face.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

_PHOTOS = [Path(p).read_bytes() for p in os.environ["FACEPRINT_FUZZ_IMAGES"].splitlines() if p.strip()]

schemathesis.openapi.format("binary", st.sampled_from(_PHOTOS))
schemathesis.openapi.format("byte", st.sampled_from([base64.b64encode(b).decode() for b in _PHOTOS]))

