def test_embedded_model_loads_real_weights_by_shape(lite0):
    assert lite0.card.weights_id == "efficientnet-lite0-57934424.pth"
    assert lite0.card.input_size == 224
    assert lite0.card.layer("conv_stem").channels == 32
