"""PyTorch programs: a head's activation is declared or told by the load check (never
applied twice), a fixed batch size and torch.save pickles are refused at load, and a
runtime error or a NaN is a one-line ModelOutputError."""

from __future__ import annotations

import numpy as np
import pytest

from liveeval.errors import ModelLoadError, ModelOutputError
from liveeval.serving import ModelSpec, load_model

torch = pytest.importorskip("torch")

# TorchScript is deprecated upstream but still what many teams have on disk.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")

BATCH = ({0: torch.export.Dim("batch")},)
X = np.array([[0.5, -1.0], [2.0, 0.1], [-0.3, 0.7], [1.5, 1.5]], dtype=np.float32)


def spec(path, **kw):
    return ModelSpec("m", path, **kw)


def rows(x=X):
    return [{"u": float(u), "v": float(v)} for u, v in x]


def exported(module, path, *, dynamic=True):
    x = torch.zeros(3, 2, dtype=next(module.parameters()).dtype)
    program = torch.export.export(module, (x,), dynamic_shapes=BATCH if dynamic else None)
    torch.export.save(program, str(path))
    return path


def scripted(module, path):
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def sigmoid_head():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid()).eval()


def linear_head(k=3):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, k)).eval()


def own(module, x=X):
    with torch.inference_mode():
        return module(torch.from_numpy(x)).numpy().astype(np.float64)


@pytest.mark.parametrize("save", [exported, scripted], ids=["export", "torchscript"])
def test_a_sigmoid_head_declared_as_probabilities_serves_its_own_scores(tmp_path, save):
    module = sigmoid_head()
    path = save(module, tmp_path / ("m.pt2" if save is exported else "m.pt"))
    loaded = load_model(spec(path, features=("u", "v"), classes=(0, 1), output="probabilities"))
    out = loaded.infer(loaded.inputs(rows()))
    assert np.max(np.abs(np.array(out.scores) - own(module).reshape(-1))) <= 1e-6
    # The bug: the same head taken for a logit predicts positive for every row.
    assert out.labels == [int(s >= 0.5) for s in own(module).reshape(-1)]


def test_an_undeclared_single_output_head_must_be_declared(tmp_path):
    path = exported(sigmoid_head(), tmp_path / "m.pt2")
    with pytest.raises(
        ModelLoadError,
        match=r"it gives one score per row, which can be a probability \(after a sigmoid\) or a "
        r"logit; declare output = 'probabilities' or 'logits' in its \[\[models\]\] entry$",
    ):
        load_model(spec(path, features=("u", "v"), classes=(0, 1)))


def test_a_single_logit_gets_a_sigmoid(tmp_path):
    torch.manual_seed(2)
    module = torch.nn.Linear(2, 1).eval()
    path = exported(module, tmp_path / "m.pt2")
    loaded = load_model(spec(path, features=("u", "v"), classes=("ham", "spam"), output="logits"))
    probas = np.array(loaded.infer(loaded.inputs(rows())).probas)
    expected = 1 / (1 + np.exp(-own(module).reshape(-1)))
    assert np.max(np.abs(probas[:, 1] - expected)) <= 1e-6


def test_logits_are_told_from_the_probe_and_get_a_softmax(tmp_path):
    module = linear_head()
    path = exported(module, tmp_path / "m.pt2")
    loaded = load_model(spec(path, features=("u", "v"), classes=("a", "b", "c")))
    assert loaded.output == "logits"
    z = own(module)
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert np.max(np.abs(np.array(loaded.infer(loaded.inputs(rows())).probas) - expected)) <= 1e-6


def test_a_softmax_head_declared_as_logits_is_refused(tmp_path):
    module = torch.nn.Sequential(linear_head(), torch.nn.Softmax(dim=1)).eval()
    path = exported(module, tmp_path / "m.pt2")
    declared = {"features": ("u", "v"), "classes": ("a", "b", "c")}
    with pytest.raises(
        ModelLoadError,
        match=r"output = 'logits', but its scores are in \[0, 1\] and sum to 1 on every probe "
        r"row: the model already applies softmax",
    ):
        load_model(spec(path, output="logits", **declared))
    loaded = load_model(spec(path, **declared))  # told from the probe
    assert loaded.output == "probabilities"
    probas = np.array(loaded.infer(loaded.inputs(rows())).probas)
    assert np.max(np.abs(probas - own(module))) <= 1e-6


def test_logits_declared_as_probabilities_are_refused(tmp_path):
    path = exported(linear_head(), tmp_path / "m.pt2")
    with pytest.raises(
        ModelLoadError,
        match=r"output = 'probabilities' gives a score of -?\d.* on a probe row; probabilities are "
        r"in \[0, 1\] and sum to 1 per row: set output = 'logits'",
    ):
        load_model(spec(path, features=("u", "v"), classes=("a", "b", "c"), output="proba"))


def test_a_program_exported_without_a_dynamic_batch_is_refused_at_load(tmp_path):
    path = exported(linear_head(), tmp_path / "m.pt2", dynamic=False)
    with pytest.raises(
        ModelLoadError,
        match=r"the program was exported with a fixed batch size of 3 \(input shape \[3, 2\]\), so "
        r"a batch of another size fails; export it with a dynamic batch dimension: "
        r"torch\.export\.export\(model, \(x,\), dynamic_shapes=\(\{0: torch\.export\.Dim",
    ):
        load_model(spec(path, features=("u", "v"), classes=("a", "b", "c")))


@pytest.mark.parametrize("what", ["module", "state_dict"])
def test_a_torch_save_pickle_is_refused_naming_the_export_functions(tmp_path, what):
    module = linear_head()
    path = tmp_path / "m.pt"
    torch.save(module if what == "module" else module.state_dict(), str(path))
    with pytest.raises(
        ModelLoadError,
        match=r"m\.pt: is a torch\.save\(\) pickle \(a module or a state_dict\), not a TorchScript "
        r"or torch\.export program, and cannot be served; export it with torch\.jit\.script\(model\)"
        r".*torch\.export\.save\(torch\.export\.export\(",
    ):
        load_model(spec(path, features=("u", "v"), classes=("a", "b", "c")))


def test_what_a_program_needs_declared_is_one_line(tmp_path):
    path = exported(linear_head(), tmp_path / "m.pt2")
    with pytest.raises(
        ModelLoadError,
        match=r"a PyTorch program records no names: declare 'features' \(its 2 inputs, in order; "
        r"or --features\) and 'classes' \(its 3 classes, in the order of its outputs\) in its "
        r"\[\[models\]\] entry in liveeval\.toml$",
    ):
        load_model(spec(path))
    with pytest.raises(
        ModelLoadError, match=r"the program takes 2 features per row, but 3 are listed"
    ):
        load_model(spec(path, features=("u", "v", "w"), classes=("a", "b", "c")))
    with pytest.raises(
        ModelLoadError,
        match=r"it gives 3 scores per row for 1 probe row\(s\), but the config declares 2 classes "
        r"\['a', 'b'\] \(too few\); list its 3 classes in 'classes', in the order of its outputs$",
    ):
        load_model(spec(path, features=("u", "v"), classes=("a", "b")))


def test_a_float64_torchscript_program_gets_float64(tmp_path):
    module = linear_head().double()
    path = scripted(module, tmp_path / "m.pt")
    loaded = load_model(spec(path, features=("u", "v"), classes=("a", "b", "c")))
    x = loaded.inputs(rows())
    assert x.dtype == np.float64
    z = own(module, X.astype(np.float64))
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert np.max(np.abs(np.array(loaded.infer(x).probas) - expected)) <= 1e-12


class SqrtHead(torch.nn.Module):
    """Probabilities, and NaN for rows whose first input is negative."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x)) * torch.sqrt(x[:, :1]) / torch.sqrt(x[:, :1])


def test_a_program_returning_nan_for_some_inputs_raises_model_output_error(tmp_path):
    path = scripted(SqrtHead().eval(), tmp_path / "m.pt")
    # Probe rows are 0, 1, 2: 0/0 is NaN, so the load check refuses it at once.
    with pytest.raises(ModelLoadError, match=r"it returned nan on probe rows .*; expected finite"):
        load_model(spec(path, features=("u", "v"), classes=(0, 1), output="probabilities"))


class NegativeNaN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.linear(x))
        return torch.where(x[:, :1] < 0, torch.full_like(p, float("nan")), p)


def test_nan_at_run_time_is_a_model_output_error_naming_the_row(tmp_path):
    path = scripted(NegativeNaN().eval(), tmp_path / "m.pt")
    loaded = load_model(spec(path, features=("u", "v"), classes=(0, 1), output="probabilities"))
    with pytest.raises(
        ModelOutputError,
        match=r"^model 'm' returned an invalid output: nan for inputs\[2\]; expected finite "
        r"scores$",
    ):
        loaded.infer(loaded.inputs(rows()))
    assert loaded.infer(loaded.inputs(rows(X[:2]))).scores is not None


def test_a_torchscript_runtime_error_is_one_line_without_its_traceback(tmp_path):
    path = scripted(linear_head(), tmp_path / "m.pt")
    loaded = load_model(spec(path, features=("u", "v"), classes=("a", "b", "c")))
    with pytest.raises(
        ModelOutputError, match=r"^model 'm' returned an invalid output: RuntimeError: mat1 and"
    ) as info:
        loaded.infer(np.zeros((2, 5), dtype=np.float32))  # not what inputs() builds
    assert "\n" not in str(info.value) and "TorchScript" not in str(info.value)


def test_a_label_head_gives_class_indexes(tmp_path):
    class Argmax(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = linear_head()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(x).argmax(dim=1)

    module = Argmax().eval()
    path = exported(module, tmp_path / "m.pt2")
    loaded = load_model(spec(path, features=("u", "v"), classes=("a", "b", "c"), output="label"))
    out = loaded.infer(loaded.inputs(rows()))
    assert out.probas is None
    assert out.labels == [("a", "b", "c")[i] for i in own(module).astype(int)]
