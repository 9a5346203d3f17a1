import os

import numpy as np

from faceprint.cache import EmbeddingCache
from faceprint.types import Face


def test_cache_roundtrip_and_staleness(tmp_path) -> None:
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x" * 10)
    face = Face((1.0, 2.0, 30.0, 40.0), 0.99, ((5, 6), (7, 8), (9, 10), (11, 12), (13, 14)))
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("m", img) is None
        cache.put("m", img, np.arange(4, dtype=np.float32), face, 2)
        hit = cache.get("m", img)
        assert hit is not None and hit.n_faces == 2 and hit.face == face
        np.testing.assert_array_equal(hit.vector, np.arange(4))
        assert cache.get("other-model", img) is None
        cache.put("m", tmp_path / "a.jpg", np.zeros(4), None, 0)
        assert cache.get("m", img).face is None
        # A changed file is a miss.
        st = img.stat()
        os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert cache.get("m", img) is None
    # Survives reopening.
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put("m", img, np.ones(4), None, 0)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("m", img).vector.sum() == 4
