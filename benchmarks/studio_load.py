"""The studio under load on loopback, and the figures of its targets.

A real server (uvicorn, one process) on 127.0.0.1 serves a project of 3 classes x 30
webcam-like frames (3 bursts of 10 a class, 96x96 JPEG): the time to train it from the
page's API (the run, then the random-split comparison), the page load, and 8 clients
making 50 preview predictions each, at first alone and then while another client uploads
bursts and a training runs. Latency p50 / p99 and the error count per phase.

    python benchmarks/studio_load.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "studio"))


def serve(root: Path):
    import uvicorn

    from trueclass.studio import Project, create_app

    app = create_app(Project(root))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.token


def main() -> None:
    import httpx
    from conftest import burst

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--predictions", type=int, default=50)
    args = ap.parse_args()
    import torch

    from trueclass.features._backbone import Embedder, cache_dir

    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, torch {torch.__version__}; the backbone "
          f"embeds with {Embedder().key.rsplit('-', 2)[-2:]} (ONNX Runtime runs fp32 whatever the CPU)\n", flush=True)
    frames = {(n, s): burst(n, s, 10) for n in ("astronaut", "cat", "coffee") for s in range(3)}
    probe = [burst("cat", 9 + k, 1)[0] for k in range(8)]
    train_s, page_s, rows = [], [], []
    for rep in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            import shutil

            # converted weights and the ONNX file stay (a user has them after the first run), the
            # embeddings go: no image is embedded already
            shutil.rmtree(cache_dir() / "embeddings", ignore_errors=True)
            server, url, token = serve(Path(tmp) / "proj")
            h = {"x-trueclass-token": token}
            c = httpx.Client(base_url=url, timeout=120)
            t = time.perf_counter()
            c.get("/"), c.get("/static/studio.js"), c.get("/static/studio.css"), c.get("/api/project")
            page_s.append(time.perf_counter() - t)
            for (n, s), fs in frames.items():
                if s == 0:
                    c.post("/api/classes", json={"name": n}, headers=h)
                c.post("/api/images", data={"class": n, "kind": "webcam"},
                       files=[("files", (f"{i}.jpg", b, "image/jpeg")) for i, b in enumerate(fs)], headers=h)
            t = time.perf_counter()
            c.post("/api/train", json={}, headers=h)
            while (st := c.get("/api/project").json()["training"])["status"] == "running":
                time.sleep(0.1)
            train_s.append(time.perf_counter() - t)
            assert st["status"] == "done", st
            acc = st["result"]["accuracy"]

            def client(k: int) -> list[tuple[float, bool]]:
                out = []
                with httpx.Client(base_url=url, timeout=60) as cc:
                    for j in range(args.predictions):
                        t0 = time.perf_counter()
                        r = cc.post("/api/predict", content=probe[(k + j) % len(probe)], headers=h)
                        ok = r.status_code == 200 and "label" in r.json()
                        if not ok:
                            print("prediction failed:", r.status_code, r.text[:200], flush=True)
                        out.append((time.perf_counter() - t0, ok))
                return out

            def phase(name: str, busy: bool) -> None:
                stop = threading.Event()
                side_errors = []

                def uploads_and_training() -> None:
                    with httpx.Client(base_url=url, timeout=120) as cc:
                        r = cc.post("/api/train", json={}, headers=h)
                        side_errors.append(r.status_code != 200 and f"train: {r.text}")
                        k = 0
                        while not stop.is_set():
                            fs = frames["cat", k % 3]
                            r = cc.post("/api/images", data={"class": "cat", "kind": "webcam"},
                                        files=[("files", (f"{i}.jpg", b, "image/jpeg")) for i, b in enumerate(fs)],
                                        headers=h)
                            side_errors.append(r.status_code != 200 and f"upload: {r.text}")
                            k += 1
                side = threading.Thread(target=uploads_and_training) if busy else None
                if side:
                    side.start()
                with ThreadPoolExecutor(args.clients) as pool:
                    results = [x for part in pool.map(client, range(args.clients)) for x in part]
                stop.set()
                if side:
                    side.join()
                if any(side_errors):
                    print("errors beside the predictions:", [e for e in side_errors if e][:3], flush=True)
                lat = np.array([r[0] for r in results]) * 1000
                rows.append((rep, name, len(results), np.percentile(lat, 50), np.percentile(lat, 99),
                             sum(not ok for _, ok in results) + sum(bool(e) for e in side_errors)))

            phase("predictions alone", False)
            phase("predictions + uploads + a training", True)
            while c.get("/api/project").json()["training"]["status"] == "running":
                time.sleep(0.2)
            server.should_exit = True
            print(f"repeat {rep + 1}: trained in {train_s[-1]:.1f} s (accuracy {acc:.2f}), page {page_s[-1] * 1000:.0f} ms",
                  flush=True)
    print(f"\n| figure (median of {args.repeats}) | value | target |\n|---|---|---|")
    print(f"| train 3 classes x 30 webcam frames (run + random-split comparison) | {np.median(train_s):.1f} s | < 10 s |")
    print(f"| page load (HTML, script, style, project state) | {np.median(page_s) * 1000:.0f} ms | < 1 s |")
    print("\n| phase | requests | p50 ms | p99 ms | errors |\n|---|---|---|---|---|")
    for name in ("predictions alone", "predictions + uploads + a training"):
        mine = [r for r in rows if r[1] == name]
        print(f"| {args.clients} clients x {args.predictions} predictions, {name} | {sum(r[2] for r in mine)} | "
              f"{np.median([r[3] for r in mine]):.0f} | {np.median([r[4] for r in mine]):.0f} | "
              f"{sum(r[5] for r in mine)} |", flush=True)


if __name__ == "__main__":
    main()
