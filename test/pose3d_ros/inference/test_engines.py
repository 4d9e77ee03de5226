import json
import logging
import re

import cv2
import numpy as np
import pytest
import torch

from pose3d_ros.inference import engines
from pose3d_ros.inference.pytorch import export_onnx, image_input_shapes
from pose3d_ros.models.prcnn import PRCNN

SHAPES = (('image', (1, 3, 64, 64)), ('heatmaps', (1, 16, 16, 16)))


@pytest.fixture
def onnx_file(tmp_path):
    path = tmp_path / 'prcnn.onnx'
    path.write_bytes(b'first version')
    return path


def key_for(onnx_path, **changes):
    arguments = dict(precision='fp16', input_shapes=SHAPES, tensorrt_version='10.3.0', gpu_name='Orin',
                     compute_capability='8.7')
    arguments.update(changes)
    return engines.engine_key(onnx_path, **arguments)


def recorded_key(cache, onnx_path):
    """The EngineKey in the fp16 slot's record (beside the engine's sha256)."""
    record = json.loads(cache.key_path(onnx_path, 'fp16').read_text())
    assert len(record.pop('engine_sha256')) == 64
    return engines.EngineKey.from_record(record)


class FakeTensorRT:
    """deserialize/build stand-ins that count builds; an engine is the bytes it came from, and
    only bytes this fake built deserialize (TensorRT returns None for anything else)."""

    def __init__(self, output=b'engine #'):
        self.builds, self.output = 0, output

    def deserialize(self, serialized):
        return ('engine', serialized) if serialized.startswith(b'engine #') else None

    def build(self):
        self.builds += 1
        return self.output + str(self.builds).encode()


def test_keys_round_trip_and_name_what_differs(onnx_file):
    key = key_for(onnx_file)
    assert engines.EngineKey.from_record(json.loads(json.dumps(key.to_record()))) == key
    assert key.input_shapes == (('image', (1, 3, 64, 64)), ('heatmaps', (1, 16, 16, 16)))
    assert key.differences(key_for(onnx_file, tensorrt_version='10.4.0', gpu_name='H100')) == [
        'tensorrt_version: 10.3.0 -> 10.4.0', 'gpu_name: Orin -> H100']
    onnx_file.write_bytes(b'second version')
    assert key_for(onnx_file).onnx_sha256 != key.onnx_sha256
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'fp16', 'int8'\), got 'fp8'"):
        key_for(onnx_file, precision='fp8')


def test_an_engine_is_built_once_then_read_from_the_cache(onnx_file, tmp_path, caplog):
    cache, trt = engines.EngineCache(tmp_path / 'cache'), FakeTensorRT()
    key = key_for(onnx_file)
    logged_before_build = []

    def build():
        logged_before_build.append(caplog.text)
        return trt.build()

    with caplog.at_level(logging.WARNING, logger='pose3d_ros.engines'):
        assert engines.load_or_build(cache, onnx_file, key, trt.deserialize, build) == ('engine', b'engine #1')
    assert 'prcnn.fp16.engine is missing; building a fp16 TensorRT engine' in logged_before_build[0]
    assert recorded_key(cache, onnx_file) == key
    caplog.clear()
    assert engines.load_or_build(cache, onnx_file, key, trt.deserialize, trt.build) == ('engine', b'engine #1')
    assert trt.builds == 1 and caplog.text == ''


@pytest.mark.parametrize('damage, reason', [
    ('new_tensorrt', r'prcnn\.fp16\.engine is stale \(tensorrt_version: 10\.3\.0 -> 10\.4\.0\)'),
    ('new_onnx', r'prcnn\.fp16\.engine is stale \(onnx_sha256: '),
    ('damaged_engine', r'prcnn\.fp16\.engine is damaged \(sha256 [0-9a-f]{64}, [0-9a-f]{64} recorded in .*prcnn\.fp16\.json\)'),
    ('corrupt_engine', r'prcnn\.fp16\.engine failed to deserialize'),
    ('corrupt_key', r'prcnn\.fp16\.json is missing or unreadable \(JSONDecodeError\)'),
])
def test_stale_or_broken_engines_are_rebuilt_after_saying_why(onnx_file, tmp_path, caplog, damage, reason):
    cache, trt = engines.EngineCache(tmp_path / 'cache'), FakeTensorRT()
    engines.load_or_build(cache, onnx_file, key_for(onnx_file), trt.deserialize, trt.build)
    key = key_for(onnx_file)
    if damage == 'new_tensorrt':
        key = key_for(onnx_file, tensorrt_version='10.4.0')
    elif damage == 'new_onnx':
        onnx_file.write_bytes(b'retrained')
        key = key_for(onnx_file)
    elif damage == 'corrupt_key':
        cache.key_path(onnx_file, 'fp16').write_text('{"onnx_sha')
    elif damage == 'damaged_engine':
        engine = cache.engine_path(onnx_file, 'fp16')
        engine.write_bytes(engine.read_bytes()[:-1] + b'#')
    elif damage == 'corrupt_engine':  # written whole, but TensorRT cannot read it (another version's format)
        cache.store(onnx_file, key, b'\x00' * 64)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='pose3d_ros.engines'):
        assert engines.load_or_build(cache, onnx_file, key, trt.deserialize, trt.build) == ('engine', b'engine #2')
    assert trt.builds == 2
    [record] = caplog.records
    assert re.search(reason, record.getMessage())
    assert recorded_key(cache, onnx_file) == key


def test_a_fresh_engine_that_does_not_deserialize_is_an_error_naming_it(onnx_file, tmp_path):
    trt = FakeTensorRT(output=b'garbage #')
    with pytest.raises(ValueError, match=r'prcnn\.fp16\.engine: a freshly built engine does not deserialize'):
        engines.load_or_build(engines.EngineCache(tmp_path), onnx_file, key_for(onnx_file), trt.deserialize,
                              trt.build)


def test_calibration_batches_are_whole_and_preprocessed():
    images = [np.full((4, 6, 3), value, np.uint8) for value in range(7)]

    def preprocess(image):
        return {'image': image.transpose(2, 0, 1)[None].astype(np.float32) / 255}

    batches = engines.CalibrationBatches(images, 3, preprocess,
                                         extra_inputs=lambda batch: {'heatmaps': batch['image'][:, :1] * 2})
    collected = list(batches)
    assert len(batches) == len(collected) == 2  # the 7th image makes no whole batch
    assert collected[1]['image'].shape == (3, 3, 4, 6) and collected[1]['image'].dtype == np.float32
    np.testing.assert_allclose(collected[1]['image'][:, 0, 0, 0], np.array([3, 4, 5]) / 255)
    np.testing.assert_allclose(collected[0]['heatmaps'], collected[0]['image'][:, :1] * 2)
    with pytest.raises(ValueError, match='2 calibration images make no batch of 3'):
        engines.CalibrationBatches(images[:2], 3, preprocess)
    with pytest.raises(ValueError, match='calibration batch size must be positive, got 0'):
        engines.CalibrationBatches(images, 0, preprocess)


def test_calibration_images_are_read_as_rgb_with_named_errors(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 0] = 200  # red in RGB
    cv2.imwrite(str(tmp_path / 'a.png'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (tmp_path / 'notes.txt').write_text('ignored')
    [read] = engines.read_calibration_images(tmp_path)
    np.testing.assert_array_equal(read, image)
    (tmp_path / 'b.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match=r'b\.jpg: not a readable image'):
        engines.read_calibration_images(tmp_path)
    with pytest.raises(ValueError, match=r'nowhere: calibration image folder not found'):
        engines.read_calibration_images(tmp_path / 'nowhere')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match=r'empty: no calibration images'):
        engines.read_calibration_images(tmp_path / 'empty')


class FakeCalibratorBase:
    """trt.IInt8EntropyCalibrator2 as the calibrator subclasses it: a base whose __init__ it calls."""

    def __init__(self):
        pass


def test_an_int8_rebuild_without_calibration_images_uses_the_cache_or_names_what_is_missing(tmp_path):
    trt = type('FakeTensorRTModule', (), {'IInt8EntropyCalibrator2': FakeCalibratorBase})
    cache_path = engines.EngineCache(tmp_path).calibration_path(tmp_path / 'lifter-0123.onnx')
    with pytest.raises(ValueError, match=r'lifter-0123\.int8\.calibration.*pose3d_build_engines .*'
                                         r'--calibration-images'):
        engines.entropy_calibrator(trt, None, cache_path)
    cache_path.write_bytes(b'TRT-1000-EntropyCalibration2 table')
    calibrator = engines.entropy_calibrator(trt, None, cache_path)  # TensorRT reads the table, asks no batch
    assert calibrator.read_calibration_cache() == b'TRT-1000-EntropyCalibration2 table'
    assert calibrator.get_batch(['joints_2d']) is None


def test_without_tensorrt_the_backend_says_what_is_missing(onnx_file):
    try:
        import tensorrt  # noqa: F401
        pytest.skip('tensorrt is installed here')
    except ImportError:
        pass
    with pytest.raises(ValueError, match='the TensorRT backend needs the tensorrt Python package'):
        engines.TensorRTBackend(onnx_file, input_shapes=dict(SHAPES))


@pytest.mark.parametrize('precision', ['fp32', 'fp16'])
def test_tensorrt_matches_onnx_runtime(tmp_path, precision):
    pytest.importorskip('tensorrt', reason='TensorRT is not installed (JetPack or NVIDIA wheels)')
    try:
        engines.device_identity(engines.import_cudart())
    except ValueError as missing:
        pytest.skip(str(missing))
    from pose3d_ros.inference.backends import OnnxRuntimeBackend

    torch.manual_seed(0)
    shapes = image_input_shapes(64, 16)
    export_onnx('prcnn', PRCNN(18, 8).eval(), shapes, tmp_path / 'prcnn.onnx')
    inputs = {name: np.random.default_rng(0).random(shape, dtype=np.float32) for name, shape in shapes.items()}
    backend = engines.TensorRTBackend(tmp_path / 'prcnn.onnx', precision, shapes, cache_dir=tmp_path / 'cache')
    expected = OnnxRuntimeBackend(tmp_path / 'prcnn.onnx')(**inputs)
    np.testing.assert_allclose(backend(**inputs), expected, atol=1e-3 if precision == 'fp32' else 5e-2)
    assert engines.EngineCache(tmp_path / 'cache').engine_path(tmp_path / 'prcnn.onnx', precision).is_file()
