"""The live demo's parts: its models, and the command's start-up errors."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from liveeval.cli import app
from liveeval.demo.models import FRAUD_FEATURES, fraud_rows, load_diagnosis, train_models
from liveeval.serving import ModelSpec, load_model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return train_models(tmp_path_factory.mktemp("models"))


def test_demo_models_load_like_any_served_model(models):
    fraud = load_model(ModelSpec("fraud", models["fraud-v1"], profile="fraud"))
    assert fraud.classes == (0, 1)
    assert [f.name for f in fraud.schema.features] == list(FRAUD_FEATURES)
    diagnosis = load_model(ModelSpec("diagnosis", models["diagnosis"], pos_label="malignant"))
    assert diagnosis.classes == ("benign", "malignant")
    assert diagnosis.pos_label == "malignant"


def test_a_negative_amount_makes_the_fraud_model_fail(models):
    import joblib

    model = joblib.load(models["fraud-v2"])
    x, _ = fraud_rows(3, np.random.default_rng(0))
    assert model.predict_proba(x).shape == (3, 2)
    x[1, 0] = -12.5
    with pytest.raises(ValueError, match=r"amount -12.5 is negative: refunds are not scored"):
        model.predict_proba(x)


def test_v2_catches_more_fraud_than_v1_until_the_drift(models):
    import joblib

    rng = np.random.default_rng(1)
    v1, v2 = joblib.load(models["fraud-v1"]), joblib.load(models["fraud-v2"])

    def recall(model, drifted: bool) -> float:
        x, y = fraud_rows(20_000, rng, drifted=drifted)
        return float(model.predict(x)[y == 1].astype(int).mean())

    before = recall(v2, False)
    assert before > recall(v1, False) + 0.2
    assert recall(v2, True) < before - 0.4


def test_models_are_trained_once_and_again_when_the_training_changes(tmp_path):
    paths = train_models(tmp_path)
    stamp = paths["fraud-v1"].stat().st_mtime_ns
    assert train_models(tmp_path)["fraud-v1"].stat().st_mtime_ns == stamp
    (tmp_path / "REVISION").write_text("0\n")
    train_models(tmp_path)
    assert (tmp_path / "REVISION").read_text().strip() != "0"


def test_diagnosis_data_ships_with_scikit_learn():
    data = load_diagnosis()
    assert data.x.shape == (569, 30) and set(data.y) == {"benign", "malignant"}
    assert all(" " not in f for f in data.features)


def test_demo_on_a_port_in_use_is_one_line_and_exit_code_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["demo", "--out", str(tmp_path), "--port", str(port), "--duration", "20"]
        )
    assert result.exit_code == 2
    assert "the port is in use" in result.output
