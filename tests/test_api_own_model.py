"""reportgen.build takes a module of yours (reportgen.ModelSpec) beside catalogue names."""
import json

import pytest
import torch
from torch import nn

import reportgen
from helpers import write_inputs


def small_net(classes: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, classes))


def run(tmp_path, models, **extra):
    write_inputs(tmp_path / "inputs", size=(40, 32))
    return reportgen.build(tmp_path / "inputs", models=models, techniques=["feature_maps"], preset="quick",
                           out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu", **extra)


def test_a_module_from_python_builds_with_its_classes_beside_a_catalogue_model(tmp_path):
    spec = reportgen.ModelSpec(module=small_net(), classes=["cat", "dog"], input_size=32, mean=[0.5] * 3,
                               std=[0.25] * 3)
    gallery = run(tmp_path, {"mine": spec, "tiny": "tiny"})
    assert [model.name for model in gallery.manifest.models] == ["mine", "tiny"]
    text = (tmp_path / "site" / "manifest.json").read_text()
    assert '"cat"' in text or '"dog"' in text


def test_its_identity_is_its_state_dict(tmp_path):
    net = small_net()
    spec = lambda: {"mine": reportgen.ModelSpec(module=net, classes=["cat", "dog"], input_size=32)}  # noqa: E731
    assert run(tmp_path, spec()).report.cached == 0
    assert run(tmp_path, spec()).report.cached > 0
    with torch.no_grad():
        net[0].weight.add_(0.1)
    assert run(tmp_path, spec()).report.cached == 0


@pytest.mark.parametrize("spec, words", [
    (reportgen.ModelSpec(module=small_net(3), classes=["cat", "dog"], input_size=32), "2 names for a head of 3"),
    (reportgen.ModelSpec(module=small_net(), classes=["a", "b"], mean=[0.5]), "mean: 1 values"),
    (reportgen.ModelSpec(module="not a module", classes=["a", "b"]), "not a torch.nn.Module"),
])
def test_a_bad_spec_is_one_line(tmp_path, spec, words):
    with pytest.raises(reportgen.BuildError, match=words):
        run(tmp_path, {"mine": spec})


NET_SOURCE = '''
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.conv(x).relu().mean(dim=(2, 3)){scale})
'''


def test_its_identity_holds_its_class_source(tmp_path):
    """The same weights in a class whose code changed compute something else: recomputed."""
    import importlib.util

    def net_from(source: str) -> nn.Module:
        path = tmp_path / "netdef.py"
        path.write_text(NET_SOURCE.format(scale=source))
        spec = importlib.util.spec_from_file_location("netdef", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        torch.manual_seed(0)
        return module.Net()

    spec = lambda net: {"mine": reportgen.ModelSpec(module=net, classes=["cat", "dog"], input_size=32)}  # noqa: E731
    assert run(tmp_path, spec(net_from(""))).report.cached == 0
    assert run(tmp_path, spec(net_from(""))).report.computed == 0
    changed = run(tmp_path, spec(net_from(" * 2")))
    assert changed.report.cached == 0 and changed.report.computed > 0
