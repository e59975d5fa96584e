"""reportgen.explain: the gallery's saliency maps of one's own images, from a bare module, a timm
model, a ModelSpec or a name; and a bare module given to reportgen.build."""
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import reportgen
from helpers import write_inputs

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def small_cnn(classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def pictures(count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(count)]


def test_a_bare_module_gives_maps_of_each_method_and_its_pictures():
    result = reportgen.explain(small_cnn(), pictures(), methods=["vanilla", "gradcam", "hirescam"], input_size=32,
                               mean=MEAN, std=STD, preset="quick")
    assert set(result.maps) == {"vanilla", "gradcam", "hirescam"}
    assert result.maps["vanilla"].shape == (2, 3, 32, 32) and result.maps["hirescam"].shape == (2, 1, 32, 32)
    assert result.maps["gradcam"].shape == (2, 16, 16)  # at the CAM layer's resolution, as the gallery stores it
    assert all(a.dtype == np.float32 and np.abs(a).max() > 0 for a in result.maps.values())
    assert result.cam_layer and [c.name for c in result.classes] == [f"class {c.index}" for c in result.classes]
    heat = result.overlay("gradcam")
    assert len(heat) == 2 and heat[0].mode == "RGB" and max(heat[0].size) == 320
    assert result.overlay("vanilla", "gray")[0].mode == "L"
    with pytest.raises(AttributeError):
        result.model = "other"  # frozen


def test_paths_pil_images_and_arrays_give_the_same_maps(tmp_path):
    (pixels,) = pictures(1)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    net = small_cnn()
    results = [reportgen.explain(net, given, methods="vanilla", input_size=32, mean=MEAN, std=STD, preset="quick")
               for given in ([tmp_path / "a.png"], [Image.fromarray(pixels)], pixels)]
    for other in results[1:]:
        np.testing.assert_array_equal(other.maps["vanilla"], results[0].maps["vanilla"])


def test_a_normalised_tensor_batch_and_pinned_targets():
    batch = (torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) - 0.5) / 0.25
    result = reportgen.explain(small_cnn(), batch, methods=["gradcam", "smoothgrad"], target=[1, "class 2", 3],
                               input_size=32, mean=MEAN, std=STD, preset="quick")
    assert [c.index for c in result.classes] == [1, 2, 3]
    assert result.maps["smoothgrad"].shape == (3, 3, 32, 32)
    assert len(result.overlay("smoothgrad")) == 3


def test_a_torchvision_resnet18():
    import torchvision

    torch.manual_seed(0)
    result = reportgen.explain(torchvision.models.resnet18(weights=None), pictures(1), methods=["gradcam", "guided"],
                               input_size=64, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), preset="quick")
    assert result.cam_layer == "layer4" and result.maps["gradcam"].shape == (1, 2, 2)
    assert result.maps["guided"].shape == (1, 3, 64, 64)
    assert result.skipped == {}  # methods named: none left out


def test_a_timm_model_brings_its_input_size_mean_and_std():
    import timm

    net = timm.create_model("test_resnet", pretrained=False)
    size = net.pretrained_cfg["input_size"][-1]
    result = reportgen.explain(net, pictures(1), methods="vanilla", preset="quick")
    assert result.maps["vanilla"].shape == (1, 3, size, size)
    # every default method that applies: the rollouts do not, and are said so
    everything = reportgen.explain(net, pictures(1), preset="quick")
    assert "rollout" in everything.skipped and "rollout" not in everything.maps and "gradcam" in everything.maps


def test_its_maps_are_the_gallerys(tmp_path):
    """The same method objects and shared pass: explain's maps equal the build's stored raw maps."""
    write_inputs(tmp_path / "inputs", names=("a.png", "b.png"), size=(40, 32))
    net = small_cnn()
    methods = ["vanilla", "gradcam", "layercam", "smoothgrad", "integrated_gradients"]
    spec = reportgen.ModelSpec(module=net, input_size=32, mean=MEAN, std=STD)
    gallery = reportgen.build(tmp_path / "inputs", models={"mine": spec}, techniques=["saliency"], preset="quick",
                              overrides={"saliency": {"methods": methods}}, out=tmp_path / "site",
                              cache_dir=tmp_path / "cache", device="cpu")
    assert not gallery.errors
    paths = [tmp_path / "inputs" / "a.png", tmp_path / "inputs" / "b.png"]
    result = reportgen.explain(spec, paths, methods=methods, preset="quick")
    for method in methods:
        for index, image in enumerate(("a.png", "b.png")):
            (artifact,) = gallery.select(technique="saliency", variant=method, image=image)
            role = "cam" if "cam" in artifact.cache_files else "attribution"
            stored = gallery.array(artifact, role)
            assert artifact.meta.class_index == result.classes[index].index
            np.testing.assert_allclose(result.maps[method][index], stored, rtol=1e-5, atol=1e-6 * np.abs(stored).max())


@pytest.mark.parametrize("arguments, words", [
    (dict(methods="rollout"), "method rollout does not apply to Sequential: no global self-attention layer"),
    (dict(methods="gradcam", input_size=None),
     re.escape("no timm pretrained_cfg to read input_size from; pass explain(model, images, input_size=...)")),
    (dict(methods="gradcam", mean=None, std=None), "read mean, std from"),
    (dict(methods="nonsense"), "unknown saliency methods 'nonsense'"),
    (dict(methods="gradcam", layer="9"), r"layer: .*has no layer '9'"),
    (dict(methods="gradcam", target=99), "target: class 99 is out of range"),
    (dict(methods="gradcam", target=[1]), "target: 1 classes for 2 images"),
    (dict(methods="gradcam", params={"ig_stepz": 3}), "params\\['ig_stepz'\\]: unknown parameter"),
    (dict(methods="gradcam", device="cuda:7"), "cuda:7"),
])
def test_bad_arguments_are_one_line(arguments, words):
    given = {**dict(input_size=32, mean=MEAN, std=STD, preset="quick"), **arguments}
    given = {key: value for key, value in given.items() if value is not None}
    with pytest.raises(reportgen.ParamError, match=words) as raised:
        reportgen.explain(small_cnn(), pictures(), **given)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("images, words", [
    (torch.rand(2, 3, 32, 32) * 255, r"normalised with .* within \[-2, 2\].*holds values in \[.*, 2"),
    (torch.rand(3, 32, 32), "a float tensor of N x 3 x H x W is expected, not torch.float32 3 x 32 x 32"),
    (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "not torch.uint8"),
    ([np.zeros((40, 40, 3))], r"images\[0\]: an array of uint8 pixels"),
    (["missing.png"], r"images\[0\]: missing.png"),
    ([3], r"images\[0\]: a int; expected a path"),
])
def test_bad_images_are_one_line_naming_what_was_expected(images, words):
    with pytest.raises(reportgen.ParamError, match=words) as raised:
        reportgen.explain(small_cnn(), images, methods="vanilla", input_size=32, mean=MEAN, std=STD)
    assert "\n" not in str(raised.value)


def test_build_takes_a_bare_module(tmp_path):
    import timm

    write_inputs(tmp_path / "inputs", names=("a.png",), size=(40, 32))
    net = timm.create_model("test_resnet", pretrained=False)
    build = lambda: reportgen.build(tmp_path / "inputs", models={"mine": net}, techniques=["saliency"],  # noqa: E731
                                    preset="quick", overrides={"saliency": {"methods": ["vanilla"]}},
                                    out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu")
    first = build()
    assert not first.errors and first.computed and first.manifest.models[0].input_size == net.pretrained_cfg["input_size"][-1]
    assert build().computed == 0  # the same weights: cached
    with torch.no_grad():
        next(net.parameters()).add_(0.1)
    assert build().computed > 0  # its identity is its weights' content


def test_build_refuses_a_bare_module_without_its_input_size_in_one_line(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png",))
    with pytest.raises(reportgen.ParamError, match=r"models\['mine'\]: a Sequential has no timm pretrained_cfg .*"
                                                   r"pass reportgen.ModelSpec"):
        reportgen.build(tmp_path / "inputs", models={"mine": small_cnn()}, techniques=["saliency"],
                        out=tmp_path / "site", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "site").exists()
