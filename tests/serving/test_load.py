"""Loading model files: every problem is a ModelLoadError naming the model, the file
and what was wrong; models that need names, text inputs or give labels only load."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

from liveeval.errors import LiveevalError, ModelLoadError
from liveeval.serving import ModelSpec, load_model

from .conftest import dump, fitted_frame


def spec(path, **kw):
    return ModelSpec("m", path, **kw)


def test_a_missing_file_names_the_model_and_path(tmp_path):
    path = tmp_path / "gone.joblib"
    with pytest.raises(ModelLoadError, match=f"^model 'm': {re.escape(str(path))}: no such file$"):
        load_model(spec(path))


def test_a_directory_is_not_a_model_file(tmp_path):
    path = tmp_path / "dir.joblib"
    path.mkdir()
    with pytest.raises(ModelLoadError, match=r"dir\.joblib: is not a file"):
        load_model(spec(path))


def test_an_unknown_suffix_lists_the_accepted_ones(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("x")
    with pytest.raises(ModelLoadError, match=r"unknown model file type '\.txt'; expected \.joblib"):
        load_model(spec(path))


@pytest.mark.parametrize(
    "content",
    [b"hello, I am not a pickle\n", b"", b"\x80\x04\x95garbage"],
    ids=["text", "empty", "truncated"],
)
def test_a_file_that_is_not_a_pickle_is_reported(tmp_path, content):
    path = tmp_path / "m.joblib"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=r"m\.joblib: not a joblib/pickle file \(") as info:
        load_model(spec(path))
    assert info.value.model == "m" and info.value.path == str(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, LiveevalError)


def test_a_pickle_whose_module_is_not_installed_names_the_module(tmp_path):
    path = tmp_path / "m.pkl"
    # GLOBAL liveeval_gone_module.Model, empty args, REDUCE: what pickling an instance
    # of a class from a package that is not installed here looks like.
    path.write_bytes(b"cliveeval_gone_module\nModel\n(tR.")
    with pytest.raises(
        ModelLoadError,
        match=r"the pickle needs the Python module 'liveeval_gone_module', which is not "
        r"installed here",
    ):
        load_model(spec(path))


def test_a_pickle_naming_a_class_that_does_not_exist_is_reported(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(b"cliveeval.errors\nNoSuchModel\n(tR.")
    with pytest.raises(ModelLoadError, match=r"refers to code that cannot be imported here"):
        load_model(spec(path))


def test_a_pickle_that_is_not_a_model_is_reported(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(
        ModelLoadError, match=r"holds a dict, which has neither predict_proba\(\) nor predict\(\)"
    ):
        load_model(spec(path))


def test_a_model_without_feature_names_asks_for_features(bare_model):
    with pytest.raises(
        ModelLoadError,
        match=r"does not record its feature names; list them in order with --features",
    ):
        load_model(spec(bare_model))


def test_features_name_the_inputs_of_a_model_fitted_on_a_matrix(bare_model):
    from sklearn.linear_model import LogisticRegression

    loaded = load_model(spec(bare_model, features=("a", "b", "c")))
    assert loaded.features == ("a", "b", "c")
    rows = [{"c": 0.3, "a": 1.0, "b": -2.0}, {"a": 0.5, "b": 0.5, "c": 0.0}]
    x = loaded.inputs(rows)
    assert isinstance(x, np.ndarray) and x.tolist() == [[1.0, -2.0, 0.3], [0.5, 0.5, 0.0]]
    reference = pickle.loads(pickle.dumps(loaded.predictor))
    assert isinstance(reference, LogisticRegression)
    out = loaded.infer(x)
    assert out.scores == pytest.approx(reference.predict_proba(x)[:, 1].tolist())


def test_the_number_of_features_must_match_the_model(bare_model):
    with pytest.raises(
        ModelLoadError, match=r"the model takes 3 features, but 2 are listed: \['a', 'b'\]"
    ):
        load_model(spec(bare_model, features=("a", "b")))


def test_features_must_match_the_names_a_model_recorded(tmp_path):
    from sklearn.linear_model import LogisticRegression

    frame, y = fitted_frame()
    path = dump(LogisticRegression().fit(frame[["amount"]].assign(b=1.0), y), tmp_path / "m.joblib")
    with pytest.raises(
        ModelLoadError,
        match=r"fitted on features \['amount', 'b'\], but the config lists \['amount', 'x'\] "
        r"\(missing \['b'\]\) \(not in the model: \['x'\]\)",
    ):
        load_model(spec(path, features=("amount", "x")))


def test_an_unknown_feature_type_suggests_the_right_one(bare_model):
    with pytest.raises(ModelLoadError, match=r"unknown type 'str'; did you mean 'c:string'\?"):
        load_model(spec(bare_model, features=("a", "b", "c:str")))


def test_a_model_whose_predict_proba_fails_on_the_probe_row_is_reported(tmp_path):
    path = dump(Exploding(), tmp_path / "bad.joblib")
    with pytest.raises(
        ModelLoadError,
        match=r"^model 'm': .*bad\.joblib: predict_proba\(\) fails on a probe row \{'x': 0\.0\}: "
        r"RuntimeError: boom$",
    ):
        load_model(spec(path))


def test_a_model_answering_the_wrong_shape_is_reported(tmp_path):
    path = dump(WrongShape(), tmp_path / "bad.joblib")
    with pytest.raises(
        ModelLoadError,
        match=r"it gives 3 scores per row for 1 probe row\(s\), but its classes_ are 2 classes "
        r"\[0, 1\] \(too few\); predict_proba\(\) must give one column per class$",
    ):
        load_model(spec(path))


class Exploding:  # predict_proba always fails
    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(["x"], dtype=object)

    def predict_proba(self, x):
        raise RuntimeError("boom")


class WrongShape:
    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(["x"], dtype=object)

    def predict_proba(self, x):
        return np.full((len(x), 3), 1 / 3)


@pytest.mark.parametrize("labels", [[0, 1], ["ham", "spam", "eggs"]], ids=["binary", "multiclass"])
def test_a_classifier_without_predict_proba_gives_labels_only(tmp_path, labels):
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 2))
    y = np.array(labels)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int) * (len(labels) - 2)]
    model = LinearSVC().fit(x, y)
    loaded = load_model(spec(dump(model, tmp_path / "svc.joblib"), features=("a", "b")))
    assert not loaded.has_proba and not loaded.is_binary
    assert loaded.classes == tuple(sorted(labels))
    rows = [{"a": float(a), "b": float(b)} for a, b in x[:20]]
    out = loaded.infer(loaded.inputs(rows))
    assert out.scores is None and out.probas is None
    assert out.labels == model.predict(x[:20]).tolist()
    assert all(type(v) in (int, str) for v in out.labels)  # plain Python, not numpy


def test_a_pipeline_over_text_columns_is_served_from_the_model_alone(text_pipeline):
    import joblib
    import pandas as pd

    loaded = load_model(spec(text_pipeline))
    assert loaded.feature_types == {"country": "string", "channel": "string", "amount": "number"}
    rows = [
        {"amount": 120.0, "country": "DE", "channel": "web"},
        {"amount": 30, "country": "US", "channel": "app"},
    ]
    out = loaded.infer(loaded.inputs(rows))
    expected = joblib.load(text_pipeline).predict_proba(pd.DataFrame(rows))[:, 1]
    assert out.scores == pytest.approx(expected.tolist())
    assert out.labels == [int(s >= 0.5) for s in expected]


def test_a_category_the_encoder_rejects_is_a_validation_error(text_pipeline):
    from liveeval.errors import ValidationError

    loaded = load_model(spec(text_pipeline))
    with pytest.raises(
        ValidationError,
        match=r"inputs\[1\]\.country is 'XX'; model 'm' knows only \['DE', 'FR', 'US'\]",
    ):
        loaded.inputs(
            [
                {"amount": 1.0, "country": "DE", "channel": "web"},
                {"amount": 1.0, "country": "XX", "channel": "web"},
            ]
        )


def test_an_encoder_that_ignores_unknown_categories_accepts_them(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, y = fitted_frame()
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["country"]), remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(frame[["amount", "country"]], y)
    loaded = load_model(spec(dump(model, tmp_path / "m.joblib")))
    out = loaded.infer(loaded.inputs([{"amount": 10.0, "country": "XX"}]))
    assert out.labels in ([0], [1])


def test_a_numeric_column_transformer_by_name_gets_named_columns(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, y = fitted_frame()
    model = make_pipeline(
        make_column_transformer((StandardScaler(), ["amount"])), LogisticRegression()
    ).fit(frame[["amount"]].assign(other=0.0), y)
    loaded = load_model(spec(dump(model, tmp_path / "m.joblib")))
    assert loaded.schema.frame and loaded.feature_types == {"amount": "number", "other": "number"}
    out = loaded.infer(loaded.inputs([{"amount": 500.0, "other": 1.0}]))
    assert out.scores is not None and 0 <= out.scores[0] <= 1


def test_a_categorical_gradient_boosting_model_takes_declared_text(tmp_path):
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame, y = fitted_frame()
    frame = frame.assign(country=frame["country"].astype("category"))[["amount", "country"]]
    model = HistGradientBoostingClassifier(max_iter=20).fit(frame, y)
    loaded = load_model(
        spec(dump(model, tmp_path / "m.joblib"), features=("amount", "country:string"))
    )
    rows = [{"amount": 150.0, "country": "US"}, {"amount": 150.0, "country": "DE"}]
    out = loaded.infer(loaded.inputs(rows))
    reference = pd.DataFrame(rows).astype({"country": frame["country"].dtype})
    assert out.scores == pytest.approx(model.predict_proba(reference)[:, 1].tolist())


def test_a_plain_estimator_fitted_on_a_frame_keeps_the_float_fast_path(tmp_path):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, y = fitted_frame()
    numeric = frame[["amount"]].assign(b=frame["amount"] % 7)
    for model in (LogisticRegression(), make_pipeline(StandardScaler(), LogisticRegression())):
        loaded = load_model(spec(dump(model.fit(numeric, y), tmp_path / "m.joblib")))
        x = loaded.inputs([{"amount": 1.0, "b": 2.0}])
        assert isinstance(x, np.ndarray) and x.dtype == np.float64
        # filterwarnings=error: no "X does not have valid feature names" warning.
        assert loaded.infer(x).scores == pytest.approx(
            model.predict_proba(pd.DataFrame({"amount": [1.0], "b": [2.0]}))[:, 1]
        )


def test_classes_in_the_config_must_be_the_models_own(bare_model):
    loaded = load_model(spec(bare_model, features=("a", "b", "c"), classes=(0.0, "1")))
    assert loaded.classes == (0, 1)  # the same classes in other spellings
    with pytest.raises(
        ModelLoadError,
        match=r"classes \['no', 'yes'\] in the config are not the model's classes \[0, 1\]",
    ):
        load_model(spec(bare_model, features=("a", "b", "c"), classes=("no", "yes")))


def test_text_read_through_an_imputer_into_an_encoder_is_found(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, y = fitted_frame()
    model = make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["country"]),
            (SimpleImputer(), ["amount"]),
        ),
        LogisticRegression(),
    ).fit(frame[["amount", "country"]], y)
    loaded = load_model(spec(dump(model, tmp_path / "m.joblib")))
    assert loaded.feature_types == {"amount": "number", "country": "string"}
    out = loaded.infer(loaded.inputs([{"amount": 10.0, "country": "FR"}]))
    assert out.labels in ([0], [1])


def test_text_inputs_of_a_model_fitted_on_an_array_come_as_an_object_array(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, y = fitted_frame()
    x = frame[["amount", "country"]].to_numpy(dtype=object)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), [1]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(x, y)
    loaded = load_model(spec(dump(model, tmp_path / "m.joblib"), features=("amount", "country")))
    assert loaded.feature_types == {"amount": "number", "country": "string"}
    rows = [{"amount": 150.0, "country": "US"}, {"amount": 5, "country": "DE"}]
    inputs = loaded.inputs(rows)
    assert isinstance(inputs, np.ndarray) and inputs.dtype == object
    # filterwarnings=error: no "X has feature names, but ... was fitted without" warning.
    expected = model.predict_proba(np.array([[150.0, "US"], [5.0, "DE"]], dtype=object))
    assert loaded.infer(inputs).scores == pytest.approx(expected[:, 1].tolist())


def test_a_regressor_is_not_served_as_a_classifier(tmp_path):
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 2))
    path = dump(LinearRegression().fit(x, x[:, 0] + 0.3), tmp_path / "reg.joblib")
    with pytest.raises(
        ModelLoadError,
        match=r"it predicted 0\.3\d* for the probe row \{'a': 0\.0, 'b': 0\.0\}, "
        r"which is not one of the classes \[0, 1\] \(a regressor cannot be served",
    ):
        load_model(spec(path, features=("a", "b"), classes=(0, 1)))


def test_a_pickle_from_another_version_of_an_installed_package_says_so(tmp_path):
    import sklearn

    path = tmp_path / "m.pkl"
    path.write_bytes(b"csklearn._gone_in_this_version\nModel\n(tR.")
    with pytest.raises(
        ModelLoadError,
        match=rf"needs the module 'sklearn\._gone_in_this_version', which the installed 'sklearn' "
        rf"{re.escape(sklearn.__version__)} does not have: the model was saved with another version",
    ):
        load_model(spec(path))
