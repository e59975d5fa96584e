"""Attribution methods (gradients, CAM, path and noise integrals) and their sanity metrics."""

# Importing any module of the package registers every saliency method, the CAM family's after
# those of methods.py (cam_methods imports methods; methods could not import it back).
from reportgen.attribution import cam_methods  # noqa: F401
