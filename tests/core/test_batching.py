from reportgen.core.batching import batched, batched_by_image


def test_batches_hold_one_key_at_most_size_items_in_order():
    items = ["a1", "b1", "a2", "a3", "b2", "a4"]
    assert list(batched(items, 3, key=lambda item: item[0])) == [["a1", "a2", "a3"], ["a4"], ["b1", "b2"]]


def test_without_a_key_batches_split_the_items_by_size():
    assert list(batched(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(batched([], 4)) == []


def test_requests_batch_by_their_distinct_images_each_batch_with_its_requests_in_order():
    from types import SimpleNamespace

    image = {name: SimpleNamespace(pixel_hash=name) for name in "abc"}
    requests = [SimpleNamespace(image=image[name], n=n) for n, name in enumerate("abacbc")]
    batches = [([i.pixel_hash for i in images], [r.n for r in mine]) for images, mine in batched_by_image(requests, 2)]
    assert batches == [(["a", "b"], [0, 1, 2, 4]), (["c"], [3, 5])]
