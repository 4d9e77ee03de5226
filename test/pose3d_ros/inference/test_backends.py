import json
import re
import subprocess
import sys

import numpy as np

from pose3d_ros.inference.drpose3d import PersonTracker
from pose3d_ros.inference.pipeline import build_pipeline, lift_person

# Run in a process where `import torch` fails: the camera and lifter nodes configured from a model
# bundle (onnxruntime), one frame through the camera's front end and the lifter, the TensorRT
# backend's and the ONNX cache's errors without PyTorch.
WITHOUT_TORCH = '''
import json, sys, types

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ImportError(f'{name} is not installed here')

sys.meta_path.insert(0, NoTorch())
import numpy as np
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from pose3d_ros.inference.backends import make_backend
from pose3d_ros.inference.drpose3d import PersonTracker
from pose3d_ros.inference.pipeline import lift_person
from pose3d_ros.nodes.camera import CameraNode
from pose3d_ros.nodes.lifter import LifterNode

bundle, missing_checkpoint, cache_dir = sys.argv[1:]
rclpy.init()
common = [Parameter('model_bundle', value=bundle), Parameter('backend', value='onnxruntime')]
camera = CameraNode(parameter_overrides=common + [Parameter('front_end', value='drpose3d'),
                                                  Parameter('person_detector', value=False)])
lifter = LifterNode(parameter_overrides=common)
assert camera.trigger_configure() == lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS
camera.pipeline.front_end.tracker = PersonTracker(min_confidence=0.0)  # random networks: always someone
image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
(person,) = camera.pipeline.people(image)
lifted = lift_person(lifter.lifter, person.joints_2d, person.confidence, person.ranking, (150.0, 150.0), (80.0, 60.0))
both = LifterNode(parameter_overrides=common + [Parameter('lifter_checkpoint', value='lifter.pt')])
no_detector = CameraNode(parameter_overrides=common + [Parameter('front_end', value='drpose3d')])
refused = both.trigger_configure() == no_detector.trigger_configure() == TransitionCallbackReturn.FAILURE
sys.modules['tensorrt'] = types.ModuleType('tensorrt')  # as on a robot with TensorRT and no PyTorch
errors = []
for kind, model, backend in (('lifter', lifter._lifter_model(), 'tensorrt'),
                             ('prcnn', missing_checkpoint, 'onnxruntime')):
    try:
        make_backend(kind, model, backend, cache_dir=cache_dir)
    except Exception as error:  # with a GPU the TensorRT stand-in above fails at its missing API
        errors.append(f'{type(error).__name__}: {error}')
print(json.dumps({'model': lifter.model, 'camera_model': camera.model, 'joints_2d': person.joints_2d.tolist(),
                  'pose_m': lifted.pose_m.tolist(), 'errors': errors, 'bad_configurations_refused': refused,
                  'torch_loaded': any(name.split('.')[0] == 'torch' for name in sys.modules)}))
'''


def test_the_nodes_run_a_bundle_without_pytorch(bundle, checkpoints, tmp_path):
    missing = tmp_path / 'retrained_prcnn.pt'
    missing.write_bytes(checkpoints['prcnn'].read_bytes() + b'\0')  # not in any ONNX cache
    result = subprocess.run([sys.executable, '-c', WITHOUT_TORCH, str(bundle.folder), str(missing), str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert not found['torch_loaded']
    assert found['model'] == 'dpnet:lifter_dpnet_video_noise.pt' and found['bad_configurations_refused']
    assert 'model_bundle replaces lifter_checkpoint: set one or the other' in result.stderr
    assert (f'person_detector is true, and the bundle {bundle.folder} has no blazepose_detector network: export '
            f'the bundle with pose3d_export_onnx --blazepose full (for its detector) too, or set person_detector '
            f'false') in result.stderr
    assert found['camera_model'] == f'drpose3d: hourglass:hourglass.pt, prcnn:prcnn.pt (bundle {bundle.folder})'
    tensorrt, cache_miss = found['errors']
    # The TensorRT backend gets as far as this machine allows without PyTorch: to the missing GPU
    # (CI), the missing CUDA bindings, or with a GPU to the stand-in's missing TensorRT API.
    assert re.match(r"ValueError: the TensorRT backend needs a CUDA GPU; cudaGetDeviceCount says cudaError|"
                    r"ValueError: the TensorRT backend moves its buffers with NVIDIA's CUDA runtime bindings|"
                    r"AttributeError: module 'tensorrt' has no attribute", tensorrt), tensorrt
    assert cache_miss.startswith(f'ValueError: {tmp_path}/onnx/retrained_prcnn-')
    assert 'exporting it needs PyTorch' in cache_miss
    # The same frame through the checkpoints on PyTorch, the reference.
    reference = build_pipeline('drpose3d', **checkpoints, backend='pytorch', tracker=PersonTracker(min_confidence=0.0))
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    (person,) = reference.people(image)
    lifted = lift_person(reference.lifter, person.joints_2d, person.confidence, person.ranking, (150.0, 150.0),
                         (80.0, 60.0))
    np.testing.assert_allclose(found['joints_2d'], person.joints_2d, atol=1e-3)
    np.testing.assert_allclose(found['pose_m'], lifted.pose_m, atol=1e-5)
