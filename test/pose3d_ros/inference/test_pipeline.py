import numpy as np
import pytest
import torch

from pose3d_ros.crop import crop_transform
from pose3d_ros.heatmaps import crop_to_heatmap, gaussian_heatmaps
from pose3d_ros.inference.backends import OnnxRuntimeBackend, TorchBackend
from pose3d_ros.inference.pipeline import PersonTracker, PosePipeline
from pose3d_ros.models.hourglass import LastStack, StackedHourglass
from pose3d_ros.models.lifter import DEFAULT_LIFTER, load_lifter
from pose3d_ros.models.prcnn import PRCNN
from pose3d_ros.skeleton import ROOT
from pose3d_ros.inference.networks import export_onnx, image_input_shapes

SIZE = 64
JOINTS_IN_IMAGE = np.array([[300.0 + 7 * k, 200.0 + 11 * k] for k in range(16)])


class HeatmapsAt:
    """A hourglass stand-in that puts each joint's peak where JOINTS_IN_IMAGE fall in the crop."""

    def __init__(self, box):
        self.transform = crop_transform(*box, SIZE)

    def __call__(self, image):
        crop_points = JOINTS_IN_IMAGE @ self.transform[:, :2].T + self.transform[:, 2]
        return gaussian_heatmaps(crop_to_heatmap(crop_points, 4), SIZE // 4, 1.0)[None].astype(np.float32)


def scores_by_joint_index(image, heatmaps):
    return np.arange(16, dtype=np.float32)[None]  # joint 15 farthest


def test_joints_come_back_in_image_pixels_and_scores_become_the_ranking():
    box = (np.array([350.0, 290.0]), 260.0)
    pipeline = PosePipeline(HeatmapsAt(box), scores_by_joint_index, SIZE)
    image = np.zeros((480, 640, 3), np.uint8)
    detection = pipeline.detect(image, box)
    np.testing.assert_allclose(detection.joints_2d, JOINTS_IN_IMAGE, atol=0.05)
    assert detection.ranking[15, 0] == 1 and detection.ranking[0, 15] == 0 and detection.ranking[3, 3] == 0.5
    assert detection.probabilities[15, 0] == pytest.approx(1 / (1 + np.exp(-15)))
    with pytest.raises(ValueError, match=r'image must be \(H, W, 3\) uint8 RGB, got float64 \(4, 4\)'):
        pipeline.detect(np.zeros((4, 4)))


def test_the_tracker_follows_confident_joints_and_falls_back_to_the_whole_frame():
    tracker = PersonTracker(margin=1.5, min_confidence=0.3)
    center, side = tracker.box((480, 640, 3))
    np.testing.assert_allclose(center, [319.5, 239.5])
    assert side == 640
    tracker.update(JOINTS_IN_IMAGE, np.full(16, 0.9))
    center, side = tracker.box((480, 640, 3))
    np.testing.assert_allclose(center, JOINTS_IN_IMAGE.min(0) / 2 + JOINTS_IN_IMAGE.max(0) / 2)
    assert side == pytest.approx(165 * 1.5)
    tracker.update(JOINTS_IN_IMAGE, np.full(16, 0.1))
    assert not tracker.tracking and tracker.box((480, 640, 3))[1] == 640


@pytest.fixture(scope='module')
def networks(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp('onnx')
    hourglass, prcnn = StackedHourglass(1, 16, 2).eval(), PRCNN(18, 8).eval()
    export_onnx('hourglass', LastStack(hourglass), image_input_shapes(SIZE), folder / 'hourglass.onnx')
    export_onnx('prcnn', prcnn, image_input_shapes(SIZE, 16), folder / 'prcnn.onnx')
    return hourglass, prcnn, folder


def test_onnx_runtime_and_pytorch_backends_agree_end_to_end(networks):
    hourglass, prcnn, folder = networks
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    lifter, _ = load_lifter(DEFAULT_LIFTER)
    results = []
    for backends in ((TorchBackend(LastStack(hourglass), ['image']), TorchBackend(prcnn, ['image', 'heatmaps'])),
                     (OnnxRuntimeBackend(folder / 'hourglass.onnx', threads=1),
                      OnnxRuntimeBackend(folder / 'prcnn.onnx', threads=1))):
        pipeline = PosePipeline(*backends, SIZE, lifter=lifter)
        detection = pipeline.detect(image)
        results.append((detection, pipeline.lift(detection, focal=(150.0, 150.0), center=(80.0, 60.0))))
    (torch_detection, torch_pose), (onnx_detection, onnx_pose) = results
    np.testing.assert_allclose(onnx_detection.probabilities, torch_detection.probabilities, atol=1e-4)
    np.testing.assert_allclose(onnx_detection.confidence, torch_detection.confidence, atol=1e-4)
    np.testing.assert_allclose(onnx_pose, torch_pose, atol=1e-2)
    assert torch_pose.shape == (17, 3) and np.all(torch_pose[ROOT] == 0)


def test_bad_model_files_are_named(tmp_path, networks):
    with pytest.raises(ValueError, match=r'missing\.onnx: ONNX model not found'):
        OnnxRuntimeBackend(tmp_path / 'missing.onnx')
    truncated = tmp_path / 'truncated.onnx'
    truncated.write_bytes((networks[2] / 'prcnn.onnx').read_bytes()[:5000])
    with pytest.raises(ValueError, match=r'truncated\.onnx: not a loadable ONNX model'):
        OnnxRuntimeBackend(truncated)
    backend = OnnxRuntimeBackend(networks[2] / 'prcnn.onnx')
    with pytest.raises(ValueError, match=r"prcnn\.onnx: expects inputs \['image', 'heatmaps'\], got \['image'\]"):
        backend(image=np.zeros((1, 3, SIZE, SIZE), np.float32))
