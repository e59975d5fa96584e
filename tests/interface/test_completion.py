"""Shell completion through click's own machinery: the values <TAB> offers, and what it never imports."""
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reportgen.interface.cli import main

DECLARED = """[model.shapes]
factory = "no_such_module_anywhere:build"
input_size = 32
classes = ["a", "b"]
"""


def complete(line: str, **env) -> list[str]:
    """What bash completion offers for ``line`` (the word being completed is its last, possibly empty)."""
    words = line.split(" ")
    result = CliRunner().invoke(main, [], prog_name="reportgen", env={
        "_REPORTGEN_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1), **env})
    assert result.exit_code == 0, result.output
    return [item.split(",", 1)[1] for item in result.stdout.splitlines() if item]


def test_models_complete_the_last_name_of_the_list_and_declared_ones(tmp_path):
    assert {"vgg16", "vgg19"} <= set(complete("reportgen build --models vg"))
    assert all(name.startswith("vgg16,res") for name in complete("reportgen build --models vgg16,res"))
    assert "vgg16,resnet50" in complete("reportgen build --models vgg16,res")
    (tmp_path / "reportgen.toml").write_text(DECLARED)
    assert complete("reportgen build --models sha") == ["shapes"]
    assert "shapes" in complete("reportgen list layers sh")


def test_techniques_and_set_fields_complete():
    assert complete("reportgen build --techniques feature_maps,sa") == ["feature_maps,saliency"]
    assert "saliency." in complete("reportgen build --set sal")
    fields = complete("reportgen build --set saliency.")
    assert "saliency.methods=" in fields and "saliency.budget_s=" in fields
    assert complete("reportgen build --set saliency.ig_s") == ["saliency.ig_steps="]
    assert complete("reportgen list params feature_m") == ["feature_maps"]


def test_layers_complete_from_the_cached_card(tmp_path):
    assert complete(f"reportgen build --models tiny --cache-dir {tmp_path / 'cache'} --set feature_maps.layers=") == []
    from reportgen.core.cache import Cache
    from reportgen.models import card_for

    cache = Cache(tmp_path / "cache")
    cache.claim()
    card_for("tiny", "pretrained", cache)
    offered = complete(f"reportgen build --models tiny --cache-dir {tmp_path / 'cache'} --set feature_maps.layers=features.")
    assert offered and set(offered) <= {f"feature_maps.layers={layer.name}" for layer in card_for("tiny", "pretrained", cache).layers}
    assert "feature_maps.layers=features.0" in offered
    listed = complete(f"reportgen build --models tiny --cache-dir {tmp_path / 'cache'} "
                      "--set feature_maps.layers=features.0,features.")
    assert "feature_maps.layers=features.0,features.2" in listed and "feature_maps.layers=features.0,features.0" not in listed
    from_env = complete("reportgen build --set deep_dream.layer=feat", REPORTGEN_MODELS="tiny",
                        REPORTGEN_CACHE_DIR=str(tmp_path / "cache"))
    assert "deep_dream.layer=features.0" in from_env


def test_completion_imports_neither_torch_nor_a_users_factory(tmp_path):
    (tmp_path / "reportgen.toml").write_text(DECLARED)
    script = (
        "import sys\n"
        "from click.shell_completion import ShellComplete\n"
        "from reportgen.interface.cli import main\n"
        "complete = ShellComplete(main, {}, 'reportgen', '_REPORTGEN_COMPLETE').get_completions\n"
        "offered = {\n"
        "  'models': [i.value for i in complete(['build', '--models'], 'sha')],\n"
        "  'set': [i.value for i in complete(['build', '--set'], 'saliency.')],\n"
        "  'layers': [i.value for i in complete(['build', '--set'], 'feature_maps.layers=')],\n"
        "}\n"
        "print(json.dumps([offered, sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', "
        "'no_such_module_anywhere'))]))\n"
    )
    done = subprocess.run([sys.executable, "-c", "import json\n" + script], cwd=tmp_path, capture_output=True,
                          text=True, check=True, env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    offered, imported = json.loads(done.stdout)
    assert offered["models"] == ["shapes"] and "saliency.methods=" in offered["set"] and offered["layers"] == []
    assert imported == []
