"""A reportgen plugin: the occlusion technique and the squared gradient saliency method, added to
reportgen by the entry points in pyproject.toml."""
