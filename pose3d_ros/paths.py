"""Where the package finds its files: the shipped weights, and the per-user cache of what is made
or fetched from them (ONNX exports, TensorRT engines, the BlazePose release files)."""
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / 'weights'
DEFAULT_LIFTER = WEIGHTS_DIR / 'lifter_dpnet_video_noise.pt'  # what the lifter node loads by default
# the drpose3d front end's networks when none are named (camera node, pose3d_infer, evaluations)
DEFAULT_HOURGLASS = WEIGHTS_DIR / 'hourglass_lspet.pt'
DEFAULT_PRCNN = WEIGHTS_DIR / 'prcnn_lspet.pt'
DEFAULT_CACHE_DIR = Path('~/.cache/pose3d_ros')
