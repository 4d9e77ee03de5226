import dataclasses
import json
import logging
import re

import pytest
import torch

from pose3d_ros.inference import networks, pytorch
from pose3d_ros.inference.backends import make_backend
from pose3d_ros.integrity import file_sha256


class ExportedAgain(Exception):
    pass


def test_cached_onnx_exports_once_per_checkpoint_content_with_its_record(checkpoints, tmp_path, monkeypatch,
                                                                        caplog):
    cache = checkpoints['cache_dir'] / 'onnx'
    model = networks.cached_onnx('prcnn', checkpoints['prcnn'], cache)  # once per test session
    assert model.path.is_file() and model.path.name.startswith('prcnn-')
    assert (model.kind, model.label) == ('prcnn', 'prcnn:prcnn.pt')
    assert model.source_sha256 == file_sha256(checkpoints['prcnn'])
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
    with pytest.raises(ExportedAgain, match=rf'prcnn-{file_sha256(retrained)[:16]}\.onnx'):
        networks.cached_onnx('prcnn', retrained, cache)
    for damaged, damage, why in ((record, b'{"kind": "prc', r'Unterminated string'),
                                 (model.path, b'truncated', r'sha256 [0-9a-f]{64} differs from')):
        intact = damaged.read_bytes()
        damaged.write_bytes(damage)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='pose3d_ros.networks'), pytest.raises(ExportedAgain):
            networks.cached_onnx('prcnn', checkpoints['prcnn'], cache)
        [warning] = caplog.records
        assert re.search(rf'{model.path.name}: exporting .*prcnn\.pt again: .*{why}', warning.getMessage())
        damaged.write_bytes(intact)
    with pytest.raises(ValueError, match=r'missing\.pt: lifter checkpoint not found'):
        networks.cached_onnx('lifter', tmp_path / 'missing.pt', cache)
    with pytest.raises(ValueError, match=r"network kind must be one of \('hourglass', 'prcnn', 'lifter', "
                                         r"'blazepose_detector', 'blazepose_landmarks'\), got 'vit'"):
        networks.cached_onnx('vit', checkpoints['prcnn'], cache)


def test_a_network_in_another_networks_place_is_refused_when_loaded(checkpoints):
    """e.g. the PRCNN's export where the lifter's should be: refused at configure, not at every frame."""
    prcnn = networks.cached_onnx('prcnn', checkpoints['prcnn'], checkpoints['cache_dir'] / 'onnx')
    posing = dataclasses.replace(prcnn, kind='lifter')
    with pytest.raises(ValueError, match=rf"{prcnn.path.name}: inputs \['image', 'heatmaps'\] and outputs "
                                         r"\['depth_scores'\] are not a lifter network's \(inputs \['joints_2d'\] "
                                         r"\+ optional \['ranking'\], outputs \['pose_mm'\]\)"):
        make_backend('lifter', posing)
    assert make_backend('prcnn', prcnn).output_names == ('depth_scores',)
    networks.check_role('lifter', ('joints_2d',), ('pose_mm',), 'baseline.onnx')  # no ranking input: fine
    with pytest.raises(ValueError, match=r"x\.onnx: inputs \['joints_2d', 'extra'\]"):
        networks.check_role('lifter', ('joints_2d', 'extra'), ('pose_mm',), 'x.onnx')
