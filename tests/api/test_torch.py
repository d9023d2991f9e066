"""PyTorch models (TorchScript and torch.export) are served like the others."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.serving import ModelSpec

torch = pytest.importorskip("torch")


def _module():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()


# TorchScript is deprecated upstream but still what many teams have on disk.
@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["torchscript", "export"])
def test_torch_model_probabilities_match_softmax(tmp_path, fmt):
    module = _module()
    x = np.array([[0.5, -1.0], [2.0, 0.1], [-0.3, 0.7]], dtype=np.float32)
    if fmt == "torchscript":
        path = tmp_path / "m.pt"
        torch.jit.save(torch.jit.script(module), str(path))
    else:
        path = tmp_path / "m.pt2"
        batch = {0: torch.export.Dim("batch")}  # any batch size, as served
        program = torch.export.export(module, (torch.from_numpy(x),), dynamic_shapes=(batch,))
        torch.export.save(program, str(path))
    spec = ModelSpec("clf", path, features=("a", "b"), classes=("cat", "dog", "eel"))
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), models=[spec])
    with TestClient(create_app(config)) as client:
        r = client.post(
            "/v1/models/clf/predict",
            json={"inputs": [{"a": float(a), "b": float(b)} for a, b in x]},
        )
        assert r.status_code == 200, r.text
        got = np.array(
            [[p["probas"][c] for c in ("cat", "dog", "eel")] for p in r.json()["predictions"]]
        )
    with torch.inference_mode():
        expected = torch.softmax(module(torch.from_numpy(x)), dim=1).numpy()
    assert got == pytest.approx(expected, abs=1e-6)
    labels = [p["label"] for p in r.json()["predictions"]]
    assert labels == [("cat", "dog", "eel")[i] for i in expected.argmax(axis=1)]
