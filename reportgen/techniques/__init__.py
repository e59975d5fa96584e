"""Every technique, one file each, registered in the gallery's order (README, What it shows)."""
from reportgen.techniques import predictions  # noqa: F401  (feeds every page, not a section)
from reportgen.techniques import feature_maps, filters, saliency, faithfulness, class_ascent, layer_ascent, deep_dream  # noqa: F401
from reportgen.techniques import feature_inversion, adversarial  # noqa: F401
from reportgen.techniques import embedding_map  # noqa: F401  (a map of the whole folder per model)
