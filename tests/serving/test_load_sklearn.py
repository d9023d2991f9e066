"""scikit-learn models: the model is the source of truth for its feature names (fed by
name, in its order), its classes (in its order) and what it outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liveeval.errors import ModelLoadError, ModelOutputError
from liveeval.serving import ModelSpec, load_model

from .conftest import dump


def spec(path, **kw):
    return ModelSpec("m", path, **kw)


def three_class_frame(n: int = 400):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n) * 10, "c": rng.normal(size=n)}
    )
    y = np.array(["maybe", "no", "yes"])[(frame["a"] > 0).astype(int) + (frame["c"] > 1)]
    return frame, y


@pytest.fixture
def frame_model(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, y = three_class_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    return model, dump(model, tmp_path / "frame.joblib")


@pytest.mark.parametrize("wrapped", [False, True], ids=["estimator", "pipeline"])
def test_features_listed_in_another_order_are_fed_by_name(tmp_path, wrapped):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, y = three_class_frame()
    binary = (y == "no").astype(int)
    model = LogisticRegression()
    if wrapped:
        model = make_pipeline(StandardScaler(), model)
    model.fit(frame, binary)
    path = dump(model, tmp_path / "m.joblib")
    loaded = load_model(spec(path, features=("c", "b", "a")))
    assert loaded.features == ("a", "b", "c")  # the model's order, not the config's
    rows = [{"c": float(c), "b": float(b), "a": float(a)} for a, b, c in frame.values[:50]]
    scores = loaded.infer(loaded.inputs(rows)).scores
    expected = model.predict_proba(pd.DataFrame(rows)[["a", "b", "c"]])[:, 1]
    assert np.max(np.abs(np.array(scores) - expected)) <= 1e-6


def test_a_multiclass_frame_model_serves_its_own_probabilities(frame_model):
    model, path = frame_model
    loaded = load_model(spec(path, features=("b", "a", "c"), classes=("maybe", "no", "yes")))
    frame, _ = three_class_frame()
    rows = frame.iloc[:40].to_dict("records")
    out = loaded.infer(loaded.inputs(rows))
    assert np.max(np.abs(np.array(out.probas) - model.predict_proba(frame.iloc[:40]))) <= 1e-6
    assert out.labels == model.predict(frame.iloc[:40]).tolist()


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (
            ("no", "maybe", "yes"),
            r"classes \['no', 'maybe', 'yes'\] in the config are the model's classes in another "
            r"order: the model's order is \['maybe', 'no', 'yes'\]; leave 'classes' out",
        ),
        (
            ("maybe", "no"),
            r"classes \['maybe', 'no'\] in the config are too few for the model's classes "
            r"\['maybe', 'no', 'yes'\] \(missing \['yes'\]\); leave 'classes' out",
        ),
        (
            ("maybe", "no", "yes", "perhaps"),
            r"are too many for the model's classes \['maybe', 'no', 'yes'\] \(not in the model: "
            r"\['perhaps'\]\); leave 'classes' out for scikit-learn models \(they come from",
        ),
    ],
    ids=["order", "too-few", "too-many"],
)
def test_classes_that_are_not_the_models_own_in_its_order_are_refused(
    frame_model, classes, message
):
    _, path = frame_model
    with pytest.raises(ModelLoadError, match=message) as info:
        load_model(spec(path, classes=classes))
    assert "\n" not in str(info.value)


def test_a_classifier_declared_to_give_labels_serves_labels(frame_model):
    model, path = frame_model
    loaded = load_model(spec(path, output="label"))
    frame, _ = three_class_frame()
    out = loaded.infer(loaded.inputs(frame.iloc[:5].to_dict("records")))
    assert out.probas is None and out.scores is None
    assert out.labels == model.predict(frame.iloc[:5]).tolist()


def test_logits_are_not_an_output_of_a_scikit_learn_model(frame_model):
    _, path = frame_model
    with pytest.raises(
        ModelLoadError,
        match=r"output 'logits' does not fit this model; accepted: 'probabilities', 'label'$",
    ):
        load_model(spec(path, output="logits"))


class NotProbabilities:  # predict_proba that gives scores outside [0, 1]
    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(["x"], dtype=object)

    def predict_proba(self, x):
        return np.column_stack([x[:, 0] - 1, x[:, 0] + 2])


class SometimesNaN:  # probabilities, except NaN for negative inputs
    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(["x"], dtype=object)

    def predict_proba(self, x):
        p = 1 / (1 + np.exp(-x[:, 0]))
        p = np.where(x[:, 0] < 0, np.nan, p)
        return np.column_stack([1 - p, p])


def test_predict_proba_outside_zero_one_is_refused_at_load(tmp_path):
    path = dump(NotProbabilities(), tmp_path / "m.joblib")
    with pytest.raises(
        ModelLoadError,
        match=r"predict_proba\(\) gives a score of -1 on a probe row; probabilities are in "
        r"\[0, 1\] and sum to 1 per row: its predict_proba\(\) must give probabilities$",
    ):
        load_model(spec(path))


def test_a_model_returning_nan_fails_the_request_not_the_store(tmp_path):
    loaded = load_model(spec(dump(SometimesNaN(), tmp_path / "m.joblib")))
    assert loaded.infer(loaded.inputs([{"x": 0.5}])).scores == pytest.approx([0.6224593])
    with pytest.raises(
        ModelOutputError,
        match=r"^model 'm' returned an invalid output: nan for inputs\[1\] \(and 1 more row\(s\)\); "
        r"expected finite scores$",
    ):
        loaded.infer(loaded.inputs([{"x": 1.0}, {"x": -1.0}, {"x": -2.0}]))
