"""Feature visualisation by optimisation: image parameterisations, transforms, objectives, ascent loop.

This package file stays torch-free (techniques read these names while planning); the modules in
it import torch.
"""
STYLES = ("naive", "robust")  # the seed's pixel ascent; Fourier image + random transforms
PENALTIES = ("none", "l1", "l2")
