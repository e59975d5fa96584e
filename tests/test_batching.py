from reportgen.batching import batched


def test_batches_hold_one_key_at_most_size_items_in_order():
    items = ["a1", "b1", "a2", "a3", "b2", "a4"]
    assert list(batched(items, 3, key=lambda item: item[0])) == [["a1", "a2", "a3"], ["a4"], ["b1", "b2"]]


def test_without_a_key_batches_split_the_items_by_size():
    assert list(batched(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(batched([], 4)) == []
