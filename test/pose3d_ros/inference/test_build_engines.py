from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from pose3d_ros.inference import build_engines
from pose3d_ros.inference.backends import make_backend
from pose3d_ros.inference.engines import engine_precision


def test_calibration_sees_the_pipelines_crops_and_the_hourglass_heatmaps(checkpoints, bundle):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (90, 120, 3), dtype=np.uint8) for _ in range(3)]
    models = {model.kind: model for model in bundle.models}
    sets = build_engines.calibration_sets(images, models, ['hourglass', 'prcnn'], checkpoints['cache_dir'])
    hourglass_batches, prcnn_batches = list(sets['hourglass']), list(sets['prcnn'])
    assert len(hourglass_batches) == len(prcnn_batches) == 3
    assert hourglass_batches[0]['image'].shape == (1, 3, 64, 64)
    # The whole 120 x 90 frame, letterboxed into the square crop: black rows above and below.
    assert hourglass_batches[0]['image'][0, :, :5].max() == 0 and hourglass_batches[0]['image'][0, :, 32].max() > 0
    hourglass = make_backend('hourglass', checkpoints['hourglass'], 'onnxruntime', cache_dir=checkpoints['cache_dir'])
    np.testing.assert_allclose(prcnn_batches[2]['heatmaps'], hourglass(image=prcnn_batches[2]['image']), atol=1e-6)


@pytest.fixture
def frames(tmp_path):
    """Two camera frames in a folder."""
    rng = np.random.default_rng(1)
    for name in ('a.png', 'b.png'):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    return tmp_path


@pytest.fixture
def tensorrt_builds(monkeypatch):
    """{kind: (precision, calibration)} of the TensorRT backends build_engines asks for (no TensorRT
    here); its other backends (the hourglass's heatmaps for calibration) are real."""
    built = {}

    def make(kind, model, backend, precision='fp32', device='cpu', threads=None, cache_dir=None, calibration=None):
        if backend != 'tensorrt':
            return make_backend(kind, model, backend, precision, device, threads, cache_dir)
        built[kind] = (precision, calibration)
        return SimpleNamespace(path=model.path.with_suffix(f'.{precision}.engine'))

    monkeypatch.setattr(build_engines, 'make_backend', make)
    return built


def test_int8_calibrates_the_lifter_at_its_own_precision_on_what_the_front_end_finds(
        checkpoints, bundle, frames, tensorrt_builds, capsys):
    arguments = ['--bundle', str(bundle.folder), '--cache-dir', str(checkpoints['cache_dir']),
                 '--calibration-images', str(frames), '--precision', 'int8']
    assert build_engines.main(arguments) == 0
    assert {kind: precision for kind, (precision, _) in tensorrt_builds.items()} == {
        'hourglass': 'int8', 'prcnn': 'int8', 'lifter': 'int8'}
    lifter_batches = list(tensorrt_builds['lifter'][1])
    assert len(lifter_batches) == 2  # one person per frame (random networks: always someone)
    assert lifter_batches[0]['joints_2d'].shape == (1, 16, 2) and lifter_batches[0]['ranking'].shape == (1, 16, 16)
    assert set(np.unique(lifter_batches[0]['ranking'])) <= {0.0, 0.5, 1.0}
    # Normalized for a 60 degree pinhole: joints inside the 120 x 90 frame lie within tan(30 deg).
    assert np.abs(lifter_batches[0]['joints_2d'][..., 0]).max() <= np.tan(np.radians(30)) + 1e-6
    assert 'lifter: int8 engine ready for lifter_dpnet_video_noise.pt' in capsys.readouterr().out
    tensorrt_builds.clear()
    assert build_engines.main(arguments + ['--lifter-precision', 'fp16']) == 0
    assert tensorrt_builds['lifter'] == ('fp16', None) and tensorrt_builds['prcnn'][0] == 'int8'


def test_blazepose_has_no_int8_calibration_and_runs_fp16_where_int8_is_asked_for():
    kinds = ('blazepose_detector', 'blazepose_landmarks', 'hourglass', 'prcnn', 'lifter')
    assert [engine_precision(kind, 'int8') for kind in kinds] == ['fp16', 'fp16', 'int8', 'int8', 'int8']
    assert engine_precision('blazepose_detector', 'fp32') == 'fp32'


def test_errors_are_named_before_any_build(checkpoints, bundle, frames, tmp_path, capsys):
    cache = ['--cache-dir', str(checkpoints['cache_dir'])]
    arguments = ['--hourglass', str(checkpoints['hourglass'])] + cache
    assert build_engines.main(arguments + ['--precision', 'int8']) == 2
    assert 'error: INT8 engines (hourglass, lifter) need --calibration-images' in capsys.readouterr().err
    assert build_engines.main(['--prcnn', str(checkpoints['prcnn']), '--precision', 'int8',
                               '--calibration-images', str(frames)]) == 2
    assert 'INT8 calibration runs the hourglass: give --hourglass' in capsys.readouterr().err
    assert build_engines.main(['--precision', 'int8', '--calibration-images', str(frames)] + cache) == 2
    assert ('the lifter\'s INT8 calibration runs a front end on the calibration images: give --hourglass and '
            '--prcnn, or --blazepose') in capsys.readouterr().err
    assert build_engines.main(['--bundle', str(bundle.folder), '--lifter', str(checkpoints['lifter'])]) == 2
    assert 'error: --bundle holds the networks: give it without --lifter' in capsys.readouterr().err
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
