"""Build the TensorRT engines of the pipeline's networks for this device, ahead of the first run.

    pose3d_build_engines --bundle bundle/ --precision fp16 [--cache-dir ~/.cache/pose3d_ros]
    pose3d_build_engines --blazepose full [--lifter lifter.pt] --precision fp16
    pose3d_build_engines --hourglass hourglass.pt --prcnn prcnn.pt [--lifter lifter.pt] --precision fp16
    pose3d_build_engines ... --precision int8 [--lifter-precision fp16] --calibration-images frames/ \\
        [--calibration-limit 500]

Engines land in <cache-dir>/engines, where the nodes' TensorRT backend finds them (same keys: ONNX
sha256, TensorRT version, GPU, precision, input shapes); an engine that is already valid is kept.
--bundle builds every network of a model bundle (pose3d_export_onnx's ONNX files: no PyTorch
export on the robot); the checkpoint flags build from the checkpoints' ONNX exports (cached in
<cache-dir>/onnx). --blazepose builds BlazePose's detector and the named landmark model (fetched
by pose3d_fetch_blazepose). The lifter is built at --lifter-precision (default: --precision): give
the lifter node's `precision`.

INT8 (engines.INT8_KINDS) calibrates on the images: the hourglass and PRCNN on whole-frame crops
made by the pipeline's own preprocessing (PRCNN on the hourglass's heatmaps), the lifter on the
people the front end (hourglass + PRCNN when they are built, else BlazePose) finds in them, their
joints normalized for camera.default_intrinsics' pinhole (pose3d_infer's default). BlazePose's
networks have no calibration and are built in FP16 then, as the camera node runs them. The
calibration caches (<stem>.int8.calibration beside the engines) let a later rebuild go without
the images.
"""
import argparse
import logging
import re
import sys
from pathlib import Path

from pose3d_ros.camera import default_intrinsics, pixels_to_normalized
from pose3d_ros.inference.backends import DEFAULT_CACHE_DIR, make_backend
from pose3d_ros.inference.bundle import Bundle, read_bundle
from pose3d_ros.inference.drpose3d import network_input, whole_frame_box
from pose3d_ros.inference.engines import CalibrationBatches, engine_precision, read_calibration_images
from pose3d_ros.inference.networks import OnnxModel, cached_onnx
from pose3d_ros.inference.pipeline import LANDMARK_MODELS, build_pipeline, lifter_inputs
from pose3d_ros.models.blazepose_release import model_path
from pose3d_ros.paths import DEFAULT_LIFTER

CHECKPOINT_FLAGS = ('hourglass', 'prcnn', 'lifter')


def network_sources(args):
    """{kind: checkpoint, .tflite file or a bundle's OnnxModel} of the networks to build."""
    if args.bundle:
        given = [f'--{flag}' for flag in (*CHECKPOINT_FLAGS, 'blazepose') if getattr(args, flag)]
        if given:
            raise ValueError(f'--bundle holds the networks: give it without {", ".join(given)}')
        return {model.kind: model for model in read_bundle(args.bundle).models}
    sources = {kind: getattr(args, kind) for kind in ('hourglass', 'prcnn') if getattr(args, kind)}
    sources['lifter'] = args.lifter or DEFAULT_LIFTER
    if args.blazepose:
        sources['blazepose_detector'] = model_path('pose_detection.tflite', args.cache_dir)
        sources['blazepose_landmarks'] = model_path(f'pose_landmark_{args.blazepose}.tflite', args.cache_dir)
    return sources


def calibration_front_end(kinds):
    """The front end whose networks are among `kinds` (drpose3d first), or None."""
    if {'hourglass', 'prcnn'} <= set(kinds):
        return 'drpose3d'
    return 'blazepose' if {'blazepose_detector', 'blazepose_landmarks'} <= set(kinds) else None


def check_int8(int8, kinds, calibration_images):
    """ValueError naming the missing flag before anything is exported or built."""
    if not int8:
        return
    if not calibration_images:
        raise ValueError(f'INT8 engines ({", ".join(int8)}) need --calibration-images')
    if {'hourglass', 'prcnn'} & set(int8) and 'hourglass' not in kinds:
        raise ValueError('INT8 calibration runs the hourglass: give --hourglass')
    if 'lifter' in int8 and calibration_front_end(kinds) is None:
        raise ValueError('the lifter\'s INT8 calibration runs a front end on the calibration images: give '
                         '--hourglass and --prcnn, or --blazepose (or a bundle holding them), or '
                         '--lifter-precision fp16')


def calibration_sets(images, models, kinds, cache_dir):
    """{kind: CalibrationBatches (batch 1, the engines' shape)} for `kinds` among the hourglass,
    PRCNN and the lifter, from RGB images and the {kind: OnnxModel} networks being built."""
    sets = {}
    if {'hourglass', 'prcnn'} & set(kinds):
        hourglass = make_backend('hourglass', models['hourglass'], 'onnxruntime', cache_dir=cache_dir)
        size = hourglass.input_shapes['image'][-1]

        def preprocess(image):
            return {'image': network_input(image, *whole_frame_box(image.shape), size)[0]}

        sets['hourglass'] = CalibrationBatches(images, 1, preprocess)
        sets['prcnn'] = CalibrationBatches(images, 1, preprocess,
                                           extra_inputs=lambda batch: {'heatmaps': hourglass(image=batch['image'])})
    if 'lifter' in kinds:
        front_end, held = calibration_front_end(models), Bundle(cache_dir, tuple(models.values()))
        if front_end == 'blazepose':
            landmark_model = re.fullmatch(r'pose_landmark_(\w+)\.tflite', models['blazepose_landmarks'].source)[1]
            pipeline = build_pipeline(front_end, landmark_model=landmark_model, bundle=held, cache_dir=cache_dir)
        else:
            pipeline = build_pipeline(front_end, bundle=held, cache_dir=cache_dir)
        sets['lifter'] = lifter_calibration(images, pipeline, models['lifter'])
    return {kind: sets[kind] for kind in kinds}


def lifter_calibration(images, front_end, lifter):
    """CalibrationBatches of the lifter's (an OnnxModel) inputs for every person the front end
    finds in the images, normalized for camera.default_intrinsics' pinhole (the camera's intrinsics
    are not known here)."""
    inputs = []
    for image in images:
        front_end.reset()  # separate photos: nothing to track from one to the next
        intrinsics = default_intrinsics(image.shape[1], image.shape[0])
        for person in front_end.people(image):
            normalized = pixels_to_normalized(person.joints_2d, intrinsics['focal'], intrinsics['center'])
            inputs.append(lifter_inputs(lifter.inputs, normalized, person.ranking))
    if not inputs:
        raise ValueError(f'the front end found nobody in the {len(images)} calibration images, and the lifter\'s '
                         f'INT8 calibration needs people: give frames with people in view')
    return CalibrationBatches(inputs, 1, lambda person_inputs: person_inputs)


def build_command(args):
    cache_dir = Path(args.cache_dir).expanduser()
    sources = network_sources(args)
    lifter_precision = args.lifter_precision or args.precision
    precisions = {kind: engine_precision(kind, lifter_precision if kind == 'lifter' else args.precision)
                  for kind in sources}
    int8 = [kind for kind, precision in precisions.items() if precision == 'int8']
    check_int8(int8, list(sources), args.calibration_images)
    models = {kind: source if isinstance(source, OnnxModel) else cached_onnx(kind, source, cache_dir / 'onnx')
              for kind, source in sources.items()}
    calibration = {}
    if int8:
        images = read_calibration_images(args.calibration_images, args.calibration_limit)
        calibration = calibration_sets(images, models, int8, cache_dir)
    for kind, model in models.items():
        backend = make_backend(kind, model, 'tensorrt', precisions[kind], 'cuda', cache_dir=cache_dir,
                               calibration=calibration.get(kind))
        print(f'{kind}: {precisions[kind]} engine ready for {model.source} ({backend.path})')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--bundle', help='model bundle folder (pose3d_export_onnx): build all its networks')
    parser.add_argument('--blazepose', choices=LANDMARK_MODELS,
                        help='build BlazePose\'s detector and this landmark model')
    parser.add_argument('--hourglass', help='hourglass checkpoint')
    parser.add_argument('--prcnn', help='PRCNN checkpoint')
    parser.add_argument('--lifter', help=f'lifter checkpoint (default without --bundle: {DEFAULT_LIFTER})')
    parser.add_argument('--precision', choices=('fp32', 'fp16', 'int8'), default='fp16')
    parser.add_argument('--lifter-precision', choices=('fp32', 'fp16', 'int8'),
                        help='the lifter\'s precision (default: --precision)')
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
