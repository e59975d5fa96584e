"""A reportgen plugin: the occlusion technique and the Input x Gradient saliency method, added to
reportgen by the entry points in pyproject.toml."""
