"""Build the TensorRT engines of the pipeline's networks for this device, ahead of the first run.

    pose3d_build_engines --blazepose full [--lifter lifter.pt] --precision fp16 [--cache-dir ~/.cache/pose3d_ros]
    pose3d_build_engines --hourglass hourglass.pt --prcnn prcnn.pt [--lifter lifter.pt] --precision fp16
    pose3d_build_engines ... --precision int8 --calibration-images frames/ [--calibration-limit 500]

Engines land in <cache-dir>/engines, where the nodes' TensorRT backend finds them (same keys: ONNX
sha256, TensorRT version, GPU, precision, input shapes); an engine that is already valid is kept.
--blazepose builds BlazePose's detector and the named landmark model (fetched by
pose3d_fetch_blazepose). INT8 applies to the hourglass and PRCNN, calibrated on whole-frame crops
of the images made by the pipeline's own preprocessing (PRCNN on the hourglass's heatmaps); the
lifter, a small MLP fed normalized coordinates, and BlazePose's networks are built in FP16 then.
"""
import argparse
import logging
import sys

from pose3d_ros.inference.backends import DEFAULT_CACHE_DIR, make_backend
from pose3d_ros.inference.drpose3d import network_input, whole_frame_box
from pose3d_ros.inference.engines import CalibrationBatches, read_calibration_images
from pose3d_ros.inference.networks import load_network
from pose3d_ros.inference.pipeline import LANDMARK_MODELS
from pose3d_ros.models.blazepose_release import model_path
from pose3d_ros.models.lifter import DEFAULT_LIFTER

INT8_KINDS = ('hourglass', 'prcnn')


def calibration_sets(images, hourglass_checkpoint, cache_dir):
    """{kind: CalibrationBatches} for the hourglass and PRCNN (batch 1, the engines' shape)."""
    size = load_network('hourglass', hourglass_checkpoint)[1]['image'][-1]

    def preprocess(image):
        return {'image': network_input(image, *whole_frame_box(image.shape), size)[0]}

    hourglass = make_backend('hourglass', hourglass_checkpoint, 'onnxruntime', cache_dir=cache_dir)
    return {'hourglass': CalibrationBatches(images, 1, preprocess),
            'prcnn': CalibrationBatches(images, 1, preprocess,
                                        extra_inputs=lambda batch: {'heatmaps': hourglass(image=batch['image'])})}


def build_command(args):
    checkpoints = {kind: getattr(args, kind) for kind in ('hourglass', 'prcnn', 'lifter') if getattr(args, kind)}
    if args.blazepose:
        checkpoints['blazepose_detector'] = model_path('pose_detection.tflite', args.cache_dir)
        checkpoints['blazepose_landmarks'] = model_path(f'pose_landmark_{args.blazepose}.tflite', args.cache_dir)
    calibration = {}
    if args.precision == 'int8':
        if not args.calibration_images:
            raise ValueError('--precision int8 needs --calibration-images')
        if 'hourglass' not in checkpoints:
            raise ValueError('INT8 calibration runs the hourglass: give --hourglass')
        images = read_calibration_images(args.calibration_images, args.calibration_limit)
        calibration = calibration_sets(images, checkpoints['hourglass'], args.cache_dir)
    for kind, checkpoint in checkpoints.items():
        precision = 'fp16' if args.precision == 'int8' and kind not in INT8_KINDS else args.precision
        backend = make_backend(kind, checkpoint, 'tensorrt', precision, 'cuda', cache_dir=args.cache_dir,
                               calibration=calibration.get(kind))
        print(f'{kind}: {precision} engine ready for {checkpoint} ({backend.path})')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--blazepose', choices=LANDMARK_MODELS,
                        help='build BlazePose\'s detector and this landmark model')
    parser.add_argument('--hourglass', help='hourglass checkpoint')
    parser.add_argument('--prcnn', help='PRCNN checkpoint')
    parser.add_argument('--lifter', default=str(DEFAULT_LIFTER), help='lifter checkpoint (default: %(default)s)')
    parser.add_argument('--precision', choices=('fp32', 'fp16', 'int8'), default='fp16')
    parser.add_argument('--calibration-images', help='folder of .jpg/.png frames from the target camera (INT8)')
    parser.add_argument('--calibration-limit', type=int, default=500, help='use at most this many images')
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR), help='(default: %(default)s)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    try:
        build_command(args)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
