import json

import pytest
import torch

from pose3d_ros.inference import networks, pytorch


class ExportedAgain(Exception):
    pass


def test_cached_onnx_exports_once_per_checkpoint_content_with_its_record(checkpoints, tmp_path, monkeypatch):
    cache = checkpoints['cache_dir'] / 'onnx'
    model = networks.cached_onnx('prcnn', checkpoints['prcnn'], cache)  # once per test session
    assert model.path.is_file() and model.path.name.startswith('prcnn-')
    assert (model.kind, model.label) == ('prcnn', 'prcnn:prcnn.pt')
    assert model.source_sha256 == networks.file_sha256(checkpoints['prcnn'])
    assert model.inputs == {'image': [1, 3, 64, 64], 'heatmaps': [1, 16, 16, 16]}
    assert model.outputs == {'depth_scores': [1, 16]} and model.max_abs_error < 1e-4
    assert (model.exporter, model.opset, model.versions['torch']) == ('dynamo', 18, torch.__version__)
    record = model.path.with_suffix('.json')
    assert networks.OnnxModel.from_entry(json.loads(record.read_text()), cache, record) == model
    stamp = model.path.stat().st_mtime_ns
    assert networks.cached_onnx('prcnn', checkpoints['prcnn'], cache) == model
    assert model.path.stat().st_mtime_ns == stamp

    def export_checkpoint(kind, checkpoint, path):
        raise ExportedAgain(path.name)

    monkeypatch.setattr(pytorch, 'export_checkpoint', export_checkpoint)
    retrained = tmp_path / 'prcnn.pt'
    retrained.write_bytes(checkpoints['prcnn'].read_bytes() + b'\0')
    with pytest.raises(ExportedAgain, match=rf'prcnn-{networks.file_sha256(retrained)[:16]}\.onnx'):
        networks.cached_onnx('prcnn', retrained, cache)
    for damaged, damage in ((record, b'{"kind": "prc'), (model.path, b'truncated')):
        intact = damaged.read_bytes()
        damaged.write_bytes(damage)
        with pytest.raises(ExportedAgain):
            networks.cached_onnx('prcnn', checkpoints['prcnn'], cache)
        damaged.write_bytes(intact)
    with pytest.raises(ValueError, match=r'missing\.pt: lifter checkpoint not found'):
        networks.cached_onnx('lifter', tmp_path / 'missing.pt', cache)
    with pytest.raises(ValueError, match=r"network kind must be one of \('hourglass', 'prcnn', 'lifter', "
                                         r"'blazepose_detector', 'blazepose_landmarks'\), got 'vit'"):
        networks.cached_onnx('vit', checkpoints['prcnn'], cache)
