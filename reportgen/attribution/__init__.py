"""Attribution methods (gradients, CAM, path and noise integrals, perturbations) and their sanity
metrics. Importing any module of the package registers every saliency method, in the pages' order:
the gradient rules' and CAMs' (``methods``), the CAM family's (``cam_methods``), then
``perturbation_methods``' (each imports ``methods``, which could not import them back)."""
from reportgen.attribution import methods, cam_methods, perturbation_methods  # noqa: F401
