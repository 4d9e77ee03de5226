import cv2
import numpy as np
import pytest

from pose3d_ros.inference import build_engines
from pose3d_ros.inference.backends import make_backend


def test_calibration_sees_the_pipelines_crops_and_the_hourglass_heatmaps(checkpoints, tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (90, 120, 3), dtype=np.uint8) for _ in range(3)]
    sets = build_engines.calibration_sets(images, checkpoints['hourglass'], checkpoints['cache_dir'])
    hourglass_batches, prcnn_batches = list(sets['hourglass']), list(sets['prcnn'])
    assert len(hourglass_batches) == len(prcnn_batches) == 3
    assert hourglass_batches[0]['image'].shape == (1, 3, 64, 64)
    # The whole 120 x 90 frame, letterboxed into the square crop: black rows above and below.
    assert hourglass_batches[0]['image'][0, :, :5].max() == 0 and hourglass_batches[0]['image'][0, :, 32].max() > 0
    hourglass = make_backend('hourglass', checkpoints['hourglass'], 'onnxruntime', cache_dir=checkpoints['cache_dir'])
    np.testing.assert_allclose(prcnn_batches[2]['heatmaps'], hourglass(image=prcnn_batches[2]['image']), atol=1e-6)


def test_errors_are_named_before_any_build(checkpoints, tmp_path, capsys):
    arguments = ['--hourglass', str(checkpoints['hourglass']), '--cache-dir', str(tmp_path)]
    assert build_engines.main(arguments + ['--precision', 'int8']) == 2
    assert 'error: --precision int8 needs --calibration-images' in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / 'frame.png'), np.zeros((8, 8, 3), np.uint8))
    assert build_engines.main(['--prcnn', str(checkpoints['prcnn']), '--precision', 'int8',
                               '--calibration-images', str(tmp_path)]) == 2
    assert 'INT8 calibration runs the hourglass: give --hourglass' in capsys.readouterr().err
    assert build_engines.main(['--blazepose', 'full', '--cache-dir', str(tmp_path)]) == 2
    assert f'{tmp_path}/blazepose/pose_detection.tflite does not exist: fetch the BlazePose models' \
        in capsys.readouterr().err
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert build_engines.main(arguments) == 2
        assert 'the TensorRT backend needs the tensorrt Python package' in capsys.readouterr().err
    else:
        pytest.skip('tensorrt is installed: the build itself is checked in test_engines')
