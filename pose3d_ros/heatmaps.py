"""Joint heatmaps: the coordinate convention, training targets, and decoding with sub-pixel peaks.

Pixel centres sit at integer coordinates in both the crop and the heatmap. A heatmap of stride s
has pixel u covering crop pixels s*u .. s*u + s - 1, so crop x = s * (u + 0.5) - 0.5.
"""
import numpy as np

HEATMAP_STRIDE = 4  # crop pixels per heatmap pixel of the hourglass (pose3d_ros.models.hourglass)


def crop_to_heatmap(points, stride):
    return (np.asarray(points, np.float32) + 0.5) / stride - 0.5


def heatmap_to_crop(points, stride):
    return (np.asarray(points, np.float32) + 0.5) * stride - 0.5


def gaussian_heatmaps(points, size, sigma=1.0, present=None):
    """(..., J, 2) heatmap-pixel points -> (..., J, size, size) float32 Gaussians of peak 1.

    Points with present False, or farther than 3 sigma outside the map, give all-zero maps.
    """
    points = np.asarray(points, np.float32)
    grid = np.arange(size, dtype=np.float32)
    gx = np.exp(-(grid - points[..., 0, None]) ** 2 / (2 * sigma ** 2))
    gy = np.exp(-(grid - points[..., 1, None]) ** 2 / (2 * sigma ** 2))
    maps = gy[..., :, None] * gx[..., None, :]
    inside = np.all((points > -3 * sigma) & (points < size - 1 + 3 * sigma), axis=-1)
    if present is not None:
        inside &= np.asarray(present, bool)
    return maps * inside[..., None, None]


def decode_heatmaps(heatmaps):
    """(..., J, h, w) heatmaps -> ((..., J, 2) heatmap-pixel peaks, (..., J) peak values).

    The arg-max is refined per axis by the vertex of the parabola through the logarithms of it
    and its two neighbours, exact for a Gaussian peak (at most half a pixel; none at the border
    or on a flat top).
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    *batch, height, width = heatmaps.shape
    flat = heatmaps.reshape(-1, height * width)
    peak = flat.argmax(axis=1)
    rows, cols = np.divmod(peak, width)
    maps = heatmaps.reshape(-1, height, width)
    index = np.arange(len(maps))
    confidence = maps[index, rows, cols]

    def vertex(before, after, centre, valid):
        before, after, centre = (np.log(np.maximum(v, 1e-6)) for v in (before, after, centre))
        curvature = before + after - 2 * centre
        safe = valid & (curvature < 0)
        shift = np.where(safe, 0.5 * (before - after) / np.where(safe, curvature, -1), 0)
        return np.clip(shift, -0.5, 0.5)

    inner_x = (cols > 0) & (cols < width - 1)
    inner_y = (rows > 0) & (rows < height - 1)
    left = maps[index, rows, np.clip(cols - 1, 0, width - 1)]
    right = maps[index, rows, np.clip(cols + 1, 0, width - 1)]
    up = maps[index, np.clip(rows - 1, 0, height - 1), cols]
    down = maps[index, np.clip(rows + 1, 0, height - 1), cols]
    x = cols + vertex(left, right, confidence, inner_x)
    y = rows + vertex(up, down, confidence, inner_y)
    points = np.stack([x, y], axis=-1).astype(np.float32)
    return points.reshape(*batch, 2), confidence.reshape(batch)
