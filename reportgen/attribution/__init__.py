"""Attribution methods (gradients, CAM, path and noise integrals) and their sanity metrics."""
