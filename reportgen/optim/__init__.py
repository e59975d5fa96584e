"""Feature visualisation by optimisation: image parameterisations, transforms, objectives, ascent loop."""
