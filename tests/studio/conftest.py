"""The studio's test client, the wait for a training, and webcam-like bursts: for each
class a few capture sessions, each a run of nearly identical frames (one place of a
sample photo, a little jitter and noise per frame)."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from trueclass.studio import Project, create_app

TOKEN = "test-token"
H = {"x-trueclass-token": TOKEN}


def make_client(root):
    """A test client of a studio over the project folder ``root``, and its app."""
    from starlette.testclient import TestClient

    app = create_app(Project(root), token=TOKEN)
    return TestClient(app, base_url="http://127.0.0.1:8765"), app


@pytest.fixture
def client(tmp_path):
    c, app = make_client(tmp_path / "proj")
    with c:
        c.root, c.app = tmp_path / "proj", app
        yield c


def wait_for_training(client, timeout: float = 240) -> dict:
    """The training's final state, polled; an AssertionError naming the stage where it stood
    when it has not ended within ``timeout`` seconds."""
    t, st = time.time(), {}
    while time.time() - t < timeout:
        st = client.get("/api/project").json()["training"]
        if st["status"] != "running":
            return st
        time.sleep(0.2)
    raise AssertionError(f"training did not finish; it stood at {st.get('stage')!r}")


PHOTOS = {"astronaut": "astronaut", "cat": "chelsea", "coffee": "coffee"}


def photo(name: str) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, PHOTOS[name])()).convert("RGB")


def burst(name: str, session: int, frames: int = 10, size: int = 96, seed: int = 0) -> list[bytes]:
    """JPEG frames of one hold-to-record burst of class ``name``."""
    im = photo(name)
    w, h = im.size
    rng = np.random.default_rng([seed, session, sum(map(ord, name))])
    side = int(min(w, h) * rng.uniform(0.45, 0.7))
    x0, y0 = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
    out = []
    for _ in range(frames):
        dx, dy = rng.integers(-4, 5, 2)
        x, y = int(np.clip(x0 + dx, 0, w - side)), int(np.clip(y0 + dy, 0, h - side))
        a = np.asarray(im.crop((x, y, x + side, y + side)).resize((size, size)), dtype=np.float64)
        a = np.clip(a * rng.uniform(0.95, 1.05) + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


@pytest.fixture
def png_bytes():
    def make(size=(16, 16), value=128) -> bytes:
        buf = io.BytesIO()
        Image.new("L", size, value).save(buf, format="PNG")
        return buf.getvalue()
    return make
