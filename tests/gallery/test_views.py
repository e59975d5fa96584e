import numpy as np

from reportgen.techniques.base import registry
from helpers import artifact, manifest


def test_saliency_averages_are_computed_in_python_over_the_images_that_have_one():
    def stages(*rhos):
        return [{"layers": layers, "down_to": "x", "spearman": rho} for layers, rho in zip((1, 3), rhos)]

    maps = [artifact("guided", image="a.png", randomisation=stages(0.5, None), deletion_auc=0.25),
            artifact("guided", image="b.png", randomisation=stages(0.25, None), deletion_auc=0.75),
            artifact("gradcam", image="a.png", cam_layer="features")]
    view = registry()["saliency"].view(manifest(*maps), maps)
    (gradcam, guided) = sorted(view.rows, key=lambda row: row.method.name)
    (metrics,) = guided.metrics
    assert [(s.layers, s.rho) for s in metrics.stages] == [(1, 0.375), (3, None)]
    assert metrics.deletion == 0.5 and metrics.sanity
    assert not gradcam.metrics[0].sanity and gradcam.metrics[0].facts.cam_layer == "features"
    assert guided.cells.get("m", "b.png") is maps[1] and guided.cells.get("m", "c.png") is None


def _artifact(technique, variant, spec, meta, image=None, files=()):
    from reportgen.core.artifacts import Artifact, File

    return Artifact(technique, variant, "m", image, image, spec, f"key-{variant}-{image}", {},
                    meta, {role: File(f"{role}.png", 4, 4) for role in files}, anchor=f"{variant}-{image}")


def test_class_ascent_groups_a_table_per_style_with_a_row_per_class_and_a_column_per_regulariser():
    from reportgen.core.ascent_meta import ClassAscentMeta

    made = [_artifact("class_ascent", f"{index}/{regulariser}/{style}",
                      {"class_index": index, "regulariser": regulariser, "style": style, "l1_weight": 0.5},
                      ClassAscentMeta(index, f"class {index}", regulariser, style, 0.5, 1.0, index, f"class {index}", (1,)))
            for index in (3, 1) for regulariser in ("none", "l1") for style in ("robust",)]
    (column,) = registry()["class_ascent"].view(manifest(*made), made).columns
    (table,) = column.tables  # no naive run: no naive table
    assert table.style == "robust" and [(c.regulariser, c.weight) for c in table.columns] == [("none", None), ("l1", 0.5)]
    assert [(row.class_index, row.class_name) for row in table.rows] == [(3, "class 3"), (1, "class 1")]
    assert [cell.artifact for cell in table.rows[1].cells] == [made[2], made[3]]
    assert table.rows[1].cells[0].caption == "p = 50.0%"  # seen as its class: no top-1 named
    assert [c.weight_label for c in table.columns] == ["", "0.5"]


def test_deep_dream_groups_a_table_per_method_and_an_animation_row_only_where_there_is_one():
    from reportgen.core.ascent_meta import DeepDreamMeta, DreamRoles

    def dream(method, objective, files):
        meta = DeepDreamMeta("l", 1 if objective == "one_channel" else None, method, objective, "mean", (4, 4), 1, 2, 0.0, 1.0)
        return _artifact("deep_dream", f"{method}/{objective}", {"method": method, "objective": objective}, meta,
                         image="a.png", files=files)

    made = [dream("octaves", "all_channels", (DreamRoles.DREAM, DreamRoles.OCTAVES)),
            dream("simple", "one_channel", (DreamRoles.DREAM,))]
    simple, octaves = registry()["deep_dream"].view(manifest(*made), made).tables
    assert (simple.method, octaves.method) == ("simple", "octaves")
    assert [(row.objective, row.role) for row in simple.rows] == [("one_channel", DreamRoles.DREAM)]
    assert [row.role for row in octaves.rows] == [DreamRoles.DREAM, DreamRoles.OCTAVES]
    assert octaves.rows[0].cells.get("m", "a.png") is made[0] and octaves.rows[0].first == [made[0]]


def _faithfulness(per_image, metrics, **facts):
    from reportgen.core.meta import FaithfulnessMeta

    scores = {name: {m: float(np.mean([v for v in values[m] if v is not None])) for m in metrics}
              for name, values in per_image.items()}
    curves = {name: {"insertion": (0.0, 1.0), "deletion": (1.0, 0.0)} for name in scores}
    images = len(next(iter(per_image.values()))[metrics[0]])
    meta = FaithfulnessMeta(tuple(scores), tuple(metrics), scores, curves, images, 0, 15.0, 224, per_image=per_image,
                            **facts)
    made = [_artifact("faithfulness", "scores", {"inputs": [f"{i:02d}{'0' * 62}" for i in range(images)]}, meta)]
    return made, registry()["faithfulness"].view(manifest(*made), made)


def test_faithfulness_ranks_methods_among_the_baselines_and_marks_what_beats_them_over_the_images():
    rng = np.random.default_rng(0)

    def around(mean, spread=0.02):
        return list(mean + spread * rng.standard_normal(12))

    per_image = {"gradcam": {"insertion": around(0.6), "deletion": around(0.2), "randomisation": around(-0.1)},
                 "guided": {"insertion": around(0.5), "deletion": around(0.4), "randomisation": around(0.9)},
                 "random": {"insertion": around(0.3), "deletion": around(0.3), "randomisation": [1.0] * 12},
                 "centre": {"insertion": around(0.55), "deletion": around(0.35), "randomisation": [1.0] * 12}}
    _, view = _faithfulness(per_image, ("insertion", "deletion", "randomisation"))
    (table,) = view.tables
    assert [row.method for row in table.methods] == ["gradcam", "centre", "guided", "random"]
    assert [row.place for row in table.methods] == [1, 2, 3, 3]  # guided and random: equal mean ranks
    gradcam, guided = table.methods[0], table.methods[2]
    assert [s.beats_baselines for s in gradcam.scores] == [True, True, True]  # |-0.1| beats 1.0
    assert [s.best for s in gradcam.scores] == [True, True, True] and gradcam.scores[2].value < 0
    assert [s.beats_baselines for s in guided.scores] == [False, False, True]
    assert not any(s.beats_baselines for s in table.methods[1].scores)  # a baseline never "beats" itself
    assert guided.insertion == "0.0,32.0 120.0,0.0"
    for row in table.methods:
        for score in row.scores:
            assert score.interval.low <= score.value <= score.interval.high and score.interval_text
    assert "12 images" in table.about and not table.indicative
    assert "share a rank" in view.ranks_note


def test_faithfulness_within_noise_shares_a_rank_and_few_images_are_indicative_only():
    per_image = {"gradcam": {"insertion": [0.6, 0.2, 0.5]}, "hirescam": {"insertion": [0.6, 0.2, 0.5]},
                 "guided": {"insertion": [0.2, 0.6, 0.45]}, "random": {"insertion": [0.1, 0.1, 0.1]},
                 "centre": {"insertion": [0.15, 0.1, 0.2]}}
    _, view = _faithfulness(per_image, ("insertion",), proportional=(("gradcam", "hirescam"),), cam_feeds_pooling=True)
    (table,) = view.tables
    rows = {row.method: row for row in table.methods}
    assert rows["gradcam"].place == rows["hirescam"].place == rows["guided"].place == 1
    assert rows["gradcam"].same_as == "HiResCAM" and rows["hirescam"].same_as == "Grad-CAM"
    assert "3 images" in table.about and "indicative only" in table.indicative
    (note,) = table.proportional
    assert "Grad-CAM and HiResCAM" in note and "global average pooling" in note


def test_the_faithfulness_scores_of_a_map_are_noted_on_its_input_page():
    per_image = {"gradcam": {"insertion": [0.6, 0.2], "pointing": [1.0, None]},
                 "random": {"insertion": [0.1, 0.1], "pointing": [0.0, None]}}
    made, _ = _faithfulness(per_image, ("insertion", "pointing"))
    saliency_map = _artifact("saliency", "gradcam", {}, {"method": "gradcam", "class_index": 1, "class_name": "cat",
                                                           "class_source": "top-1 prediction", "probability": 0.5,
                                                           "top1_index": 1, "top1_name": "cat"}, image="00")
    note = registry()["faithfulness"].input_note(saliency_map, made)
    assert note == "faithfulness on this input: Insertion ↑ 0.600, Pointing ↑ hit"
    other = _artifact("saliency", "gradcam", {}, saliency_map.meta, image="01")
    assert registry()["faithfulness"].input_note(other, made) == "faithfulness on this input: Insertion ↑ 0.200"


def test_a_pager_links_the_first_last_and_nearby_pages_with_gaps_between():
    from reportgen.gallery.views import Pager

    pager = Pager("saliency", items=100, size=8)
    assert pager.count == 13 and pager.path(1) == "saliency.html" and pager.path(2) == "saliency-2.html"
    middle = pager.of(55)  # the 56th input
    assert (middle.number, middle.start, middle.stop) == (7, 48, 56)
    assert [link and link[0] for link in middle.links()] == [1, None, 5, 6, 7, 8, 9, None, 13]
    assert [link.number for link in middle.links() if link and link.current] == [7] and middle.first_shown == 49
    last = pager.of(99)
    assert (last.start, last.stop, last.next, last.previous) == (96, 100, None, "saliency-12.html")
    assert [link and link[0] for link in pager.of(0).links()] == [1, 2, 3, None, 13]
    assert Pager("inputs", 0, 240, first="index.html").count == 1 and Pager("inputs", 5, 240, first="index.html").path(1) == "index.html"


def test_a_technique_page_holds_fewer_inputs_as_more_models_stand_side_by_side():
    from reportgen.gallery.views import PAGE_COLUMNS, Paging

    assert Paging().images_per_page(1) == PAGE_COLUMNS
    assert Paging().images_per_page(2) == PAGE_COLUMNS // 2 >= 3  # the showcase's three inputs and two models: one page
    assert Paging().images_per_page(PAGE_COLUMNS + 3) == 1 and Paging(images=5).images_per_page(4) == 5


def test_numbers_are_written_one_way_per_kind():
    from reportgen.gallery import formats

    assert formats.percent(0.125) == formats.probability(0.125) == "12.5%"
    assert formats.score(0.5) == "0.500" and formats.measure(1234.5) == "1.23e+03" and formats.measure(0.25, 2) == "0.25"
    assert formats.ratio(1.5) == "1.5\u00d7" and formats.seconds(30) == "30 s" and formats.seconds(90) == "1.5 min"
    assert formats.count(1, "input") == "1 input" and formats.count(2, "class", "classes") == "2 classes"


def test_views_hand_templates_labels_already_written():
    from reportgen.core.meta import SaliencyMeta
    from reportgen.gallery.page_views import Chrome, context, untrained_warning
    from reportgen.gallery.views import Layout

    maps = [artifact("guided", image="a.png", randomisation=[{"layers": 1, "down_to": "x", "spearman": 0.75}])]
    view = registry()["saliency"].view(manifest(*maps), maps)
    (row,) = view.rows
    (stage,) = row.metrics[0].stages
    assert (stage.rho_text, stage.note) == ("0.75", "top 1 layers random (all)")
    explained = view.explained_class("m", "a.png")
    assert isinstance(maps[0].meta, SaliencyMeta) and explained.detail.startswith("p = ")
    assert view.explained_class("m", "b.png") is None
    assert untrained_warning([]) == "" and "m uses random weights" in untrained_warning(["m"])
    layout = Layout(manifest(*maps))
    chrome = layout.chrome()
    assert isinstance(chrome, Chrome) and [link.current for link in chrome.nav("index")][0]
    (page, section), = layout.section("saliency")
    variables = context(chrome, section)
    assert variables["view"] is section.view and variables["models"] == chrome.models and variables["artifacts"] == maps
