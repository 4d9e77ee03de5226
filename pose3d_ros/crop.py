"""Square person crops, upright or rotated: the affine map from image pixels to network input
pixels and back."""
import cv2
import numpy as np

BORDERS = {'black': cv2.BORDER_CONSTANT, 'replicate': cv2.BORDER_REPLICATE}


def crop_transform(center, side, size, rotation=0.0):
    """2x3 affine taking image pixels to a size x size crop of the square of `side` image pixels
    centred on `center` and turned by `rotation` radians (clockwise on screen, as the image's y
    axis points down); pixel centres at integers in both."""
    scale = size / float(side)
    cos, sin = np.cos(rotation), np.sin(rotation)
    linear = scale * np.array([[cos, sin], [-sin, cos]])  # the crop's axes, read in the image
    shift = (size - 1) / 2 - linear @ np.asarray(center, np.float64)
    return np.hstack([linear, shift[:, None]])


def warp_crop(image, transform, size, border='black'):
    """The crop of an (H, W, C) image; outside the image is black or the nearest edge pixel."""
    return cv2.warpAffine(image, transform, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=BORDERS[border], borderValue=0)


def crop_to_image(points, transform):
    """(..., 2) crop pixels -> image pixels."""
    linear, shift = transform[:, :2], transform[:, 2]
    return (np.asarray(points, np.float64) - shift) @ np.linalg.inv(linear).T
