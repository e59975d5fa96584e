from reportgen.gallery import saliency
from test_artifacts import artifact, manifest


def test_saliency_averages_are_computed_in_python_over_the_images_that_have_one():
    def stages(*rhos):
        return [{"layers": layers, "down_to": "x", "spearman": rho} for layers, rho in zip((1, 3), rhos)]

    maps = [artifact("guided", image="a.png", randomisation=stages(0.5, None), deletion_auc=0.25),
            artifact("guided", image="b.png", randomisation=stages(0.25, None), deletion_auc=0.75),
            artifact("gradcam", image="a.png", cam_layer="features")]
    view = saliency(manifest(*maps), maps)
    (gradcam, guided) = sorted(view["rows"], key=lambda row: row.method)
    (metrics,) = guided.metrics
    assert [(s.layers, s.rho) for s in metrics.stages] == [(1, 0.375), (3, None)]
    assert metrics.deletion == 0.5 and metrics.sanity
    assert not gradcam.metrics[0].sanity and gradcam.metrics[0].facts["cam_layer"] == "features"
    assert guided.cells.get("m", "b.png") is maps[1] and guided.cells.get("m", "c.png") is None
