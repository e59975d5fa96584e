"""Attribution methods (gradients, CAM, path and noise integrals, perturbations) and their sanity
metrics. Importing the package registers every saliency method, the gradient rules' and CAMs'
(``methods``) first, then ``perturbation_methods``', in the pages' order."""
from reportgen.attribution import methods, perturbation_methods  # noqa: F401
