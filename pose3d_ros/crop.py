"""Square person crops: the affine map from image pixels to network input pixels and back."""
import cv2
import numpy as np


def crop_transform(center, side, size):
    """2x3 affine taking image pixels to a size x size crop of the square of `side` image pixels
    centred on `center` (pixel centres at integers in both)."""
    scale = size / float(side)
    shift = (size - 1) / 2 - scale * np.asarray(center, np.float64)
    return np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])


def warp_crop(image, transform, size):
    """The crop of an (H, W, C) image; outside the image is black."""
    return cv2.warpAffine(image, transform, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_to_image(points, transform):
    """(..., 2) crop pixels -> image pixels."""
    scale, shift = transform[0, 0], transform[:, 2]
    return (np.asarray(points, np.float64) - shift) / scale
