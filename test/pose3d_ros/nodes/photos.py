"""Real photos for the node tests, read at test time from ../shared/data (never copied into the
repository)."""
import cv2
import pytest

from training.datasets.h36m import DEFAULT_ROOT as H36M_ROOT

SHARED_DATA = H36M_ROOT.parent
# An MPII photo with two people, both found by BlazePose's detector (scores 0.98 and 0.65).
TWO_PEOPLE_PHOTO = SHARED_DATA / 'mpii-samples' / '052475643.jpg'
# Its annotated person (test_mpii.json; the other person is not annotated), whom the detector
# scores best: the box around their MPII joints (x0, y0, x1, y1).
ANNOTATED_BOX = (281.0, 105.9, 403.0, 412.0)


def read_rgb(path):
    bgr = cv2.imread(str(path))
    if bgr is None:
        pytest.skip(f'{path} not found (the ../shared/data folder beside the checkout)')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
