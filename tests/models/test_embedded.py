def test_embedded_model_loads_real_weights_by_shape(lite0):
    assert lite0.card.weights_id == "efficientnet-lite0-57934424.pth"
    assert lite0.card.input_size == 224
    assert lite0.card.layer("conv_stem").channels == 32


def test_the_embedded_weights_are_checked_against_the_hash_in_their_name(tmp_path, monkeypatch):
    from reportgen.models import embedded
    from reportgen.models.embedded import LOCAL

    checked = []
    real = embedded.matches_its_name
    monkeypatch.setattr(embedded, "matches_its_name", lambda path: checked.append(path) or real(path))
    net = LOCAL["efficientnet_lite0"].build()
    LOCAL["efficientnet_lite0"].load_weights(net)
    assert [p.name for p in checked] == ["efficientnet-lite0-57934424.pth"]
    damaged = tmp_path / checked[0].name
    content = checked[0].read_bytes()
    damaged.write_bytes(bytes([content[0] ^ 0xFF]) + content[1:])
    assert real(checked[0]) and not real(damaged)
