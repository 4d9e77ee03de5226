import importlib.metadata
import json
import shutil

import onnxruntime
import pytest
import torch

from pose3d_ros.inference import bundle as bundles
from pose3d_ros.integrity import file_sha256
from pose3d_ros.skeleton import JOINT_NAMES


def test_the_manifest_describes_every_network_of_the_bundle(bundle, checkpoints):
    manifest = json.loads((bundle.folder / 'manifest.json').read_text())
    assert manifest['format'] == 'pose3d_ros.bundle/1'
    assert manifest['package_version'] == importlib.metadata.version('pose3d_ros')
    assert manifest['joints_3d'] == list(JOINT_NAMES) and len(manifest['joints_2d']) == 16
    assert 'spine' not in manifest['joints_2d']
    entries = {entry['kind']: entry for entry in manifest['models']}
    assert set(entries) == {'hourglass', 'prcnn', 'lifter'}
    for kind, entry in entries.items():
        path = bundle.folder / entry['file']
        assert entry['file'] == f'{kind}.onnx' and entry['sha256'] == file_sha256(path)
        assert entry['source_sha256'] == file_sha256(checkpoints[kind])
        assert (entry['exporter'], entry['opset'], entry['versions']['torch']) == ('dynamo', 18, torch.__version__)
        session = onnxruntime.InferenceSession(str(path))
        assert entry['inputs'] == {i.name: i.shape for i in session.get_inputs()}
        assert entry['outputs'] == {o.name: o.shape for o in session.get_outputs()}
    assert entries['lifter']['inputs'] == {'joints_2d': [1, 16, 2], 'ranking': [1, 16, 16]}
    assert entries['lifter']['outputs'] == {'pose_mm': [1, 17, 3]}
    assert bundle.model('lifter').label == 'dpnet:lifter_dpnet_video_noise.pt'
    assert bundles.read_bundle(bundle.folder) == bundle


@pytest.fixture
def copied(bundle, tmp_path):
    """A copy of the session's bundle to damage."""
    return shutil.copytree(bundle.folder, tmp_path / 'bundle')


def rewrite_manifest(folder, change):
    manifest = json.loads((folder / 'manifest.json').read_text())
    change(manifest)
    (folder / 'manifest.json').write_text(json.dumps(manifest))


def test_a_damaged_or_foreign_bundle_is_refused_naming_the_file_and_field(copied, tmp_path):
    with open(copied / 'prcnn.onnx', 'r+b') as file:
        file.seek(200)
        file.write(b'\xff')
    with pytest.raises(ValueError, match=r'bundle/prcnn\.onnx: sha256 [0-9a-f]{64} differs from [0-9a-f]{64} '
                                         r'recorded in .*bundle/manifest\.json'):
        bundles.read_bundle(copied)
    (copied / 'prcnn.onnx').unlink()
    with pytest.raises(ValueError, match=r'manifest\.json: .*bundle/prcnn\.onnx is missing'):
        bundles.read_bundle(copied)
    with pytest.raises(ValueError, match=r'nowhere/manifest\.json not found: a model bundle is a folder written by '
                                         r'pose3d_export_onnx'):
        bundles.read_bundle(tmp_path / 'nowhere')
    rewrite_manifest(copied, lambda manifest: manifest.update(format='pose3d_ros.bundle/9'))
    with pytest.raises(ValueError, match=r"manifest\.json: format 'pose3d_ros\.bundle/9', expected "
                                         r"'pose3d_ros\.bundle/1'"):
        bundles.read_bundle(copied)
    rewrite_manifest(copied, lambda manifest: manifest.update(format=bundles.FORMAT, joints_3d=JOINT_NAMES[:16]))
    with pytest.raises(ValueError, match=r"manifest\.json: joints_3d \['hip', .* are not this package's"):
        bundles.read_bundle(copied)
    rewrite_manifest(copied, lambda manifest: (manifest.update(joints_3d=list(JOINT_NAMES)),
                                               manifest['models'][0].pop('sha256')))
    with pytest.raises(ValueError, match=r"manifest\.json: model entry 'hourglass\.onnx' lacks \['sha256'\]"):
        bundles.read_bundle(copied)


def test_the_nodes_get_batch_one_networks_of_the_kinds_they_ask_for(bundle, copied):
    with pytest.raises(ValueError, match=r'manifest\.json: no blazepose_landmarks \(full\) network in this bundle \(it '
                                         r'holds hourglass \(hourglass\.pt\), prcnn \(prcnn\.pt\), lifter '
                                         r'\(lifter_dpnet_video_noise\.pt\)\); export one with pose3d_export_onnx'):
        bundle.model('blazepose_landmarks', 'full')
    rewrite_manifest(copied, lambda manifest: manifest['models'][2]['inputs'].update(joints_2d=['batch', 16, 2]))
    with pytest.raises(ValueError, match=r"lifter\.onnx: input 'joints_2d' has shape \['batch', 16, 2\], and the "
                                         r"nodes run batch 1: export the bundle with --batch 1"):
        bundles.read_bundle(copied).model('lifter')
