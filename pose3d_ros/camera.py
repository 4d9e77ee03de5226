"""Camera geometry shared by the nodes and training."""
import numpy as np


def project_pinhole(points, focal, center):
    """Project (..., 3) camera-frame points (z forward) to (..., 2) pixels.

    focal, center: (fx, fy) and (cx, cy) in pixels.
    """
    points = np.asarray(points, dtype=np.float64)
    return points[..., :2] / points[..., 2:3] * np.asarray(focal) + np.asarray(center)
