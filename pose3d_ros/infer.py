"""pose3d_infer: 3D poses of everyone in photos, image folders or videos, without a ROS graph.

    pose3d_infer INPUT... [--camera-info FILE] [--json OUT] [--front-end NAME] [--max-people N]
                 [--video-out FILE] [--ground-plane A B C D]

INPUT: image files, folders (their images in name order) or video files. Photos are taken one at
a time (photo mode: detection on each); a video's frames are tracked as the camera node tracks a
camera's (video mode: ids stay with people). It runs the same pipeline as the nodes
(pose3d_ros.inference.pipeline): a front end (`blazepose`, default, or `drpose3d`) and the shipped
lifter, on ONNX Runtime by default. Offline, it defaults to BlazePose's most accurate landmark
model, `heavy` (the camera node's default, `full`, is about 3x faster).

--camera-info: a ROS camera_calibration YAML (image_width, image_height, camera_matrix,
distortion_model: plumb_bob, distortion_coefficients, ...) for every input; it must match the
inputs' size. Without it each image gets a pinhole camera with a 60 degree horizontal field of
view (f = W / (2 tan 30 deg) = 0.866 W pixels), the principal point at the image centre and no
distortion: the 3D pose's shape barely depends on it, its depth direction does.

--ground-plane A B C D: the floor the people stand on, A x + B y + C z + D = 0 in the camera's
optical frame (metres, (A, B, C) pointing up; a level camera 1.2 m above the floor: 0 -1 0 1.2),
which refines how far away each person is (pose3d_ros.root.refine_with_ground).

--json writes
    {"joint_names_2d": [...16 DETECTED_JOINTS...], "joint_names_3d": [...17...],
     "frames": [{"source": "<file>" or "<video>#<frame>", "width", "height",
                 "people": [{"id", "score", "box": [x0, y0, x1, y1],
                             "keypoints_2d": [[x, y, confidence], ...] (pixels),
                             "joints_3d": [[x, y, z], ...] (metres, camera optical frame: x right,
                                                            y down, z forward; root-relative),
                             "root": [x, y, z] (metres, optical frame: where the root stands, the
                                     translation that makes joints_3d project onto keypoints_2d;
                                     pose3d_ros/root.py) or null where it could not be placed,
                             "root_std": [sx, sy, sz] (metres, its standard deviations) or null}]}]}
with joint names as in pose3d_ros/skeleton.py. --video-out draws every frame's skeletons into an
MP4 video (frames resized to the first one's size).
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from pose3d_ros.atomic import atomic_write
from pose3d_ros.camera import default_intrinsics
from pose3d_ros.images import read_rgb
from pose3d_ros.inference.pipeline import FRONT_ENDS, LANDMARK_MODELS, build_pipeline
from pose3d_ros.paths import DEFAULT_CACHE_DIR, DEFAULT_HOURGLASS, DEFAULT_LIFTER, DEFAULT_PRCNN
from pose3d_ros.root import floor_plane
from pose3d_ros.skeleton import DETECTED_BONES, DETECTED_JOINTS, JOINT_NAMES

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
# Person colours (BGR) by id, as the RViz markers use them.
PALETTE = ((60, 180, 255), (255, 160, 60), (90, 220, 90), (200, 90, 220), (60, 220, 220), (220, 220, 60))


class InputError(ValueError):
    """An input that cannot be read, named."""


def calibrated_intrinsics(path):
    """(width, height), intrinsics of a camera_calibration YAML file; InputError naming it."""
    from pose3d_ros.nodes.image_source import SourceError, camera_info_from_file
    from pose3d_ros.nodes.lifter import intrinsics_from_camera_info

    try:
        info = camera_info_from_file(path)
        camera = intrinsics_from_camera_info(info)
    except (SourceError, ValueError) as error:
        raise InputError(str(error)) from None
    return (info.width, info.height), {'focal': camera.focal, 'center': camera.center,
                                       'radial': camera.radial, 'tangential': camera.tangential}


def frames_of(inputs):
    """-> (source name, RGB frame, is_video_frame) for every input, in order; InputError for an
    input that is missing or unreadable (a corrupt photo among others is reported and skipped)."""
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(f for f in item.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not files:
                raise InputError(f'folder {item} holds no images ({", ".join(IMAGE_SUFFIXES)})')
            for file in files:
                yield from _photo(file)
        elif not item.is_file():
            raise InputError(f'input {item} does not exist')
        elif item.suffix.lower() in VIDEO_SUFFIXES:
            capture = cv2.VideoCapture(str(item))
            if not capture.isOpened():
                raise InputError(f'cannot open video {item}: OpenCV finds no decoder for it')
            index = 0
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                yield f'{item}#{index}', cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), True
                index += 1
            capture.release()
            if index == 0:
                raise InputError(f'cannot read a frame from video {item}: empty or corrupt')
        else:
            yield from _photo(item)


def _photo(path):
    try:
        rgb = read_rgb(path)
    except ValueError as error:
        print(f'pose3d_infer: skipping {error}', file=sys.stderr)
        return
    yield str(path), rgb, False


def count_frames(inputs):
    """Frames the inputs hold, for the progress bar (None when unknown)."""
    total = 0
    for item in map(Path, inputs):
        if item.is_dir():
            total += sum(1 for f in item.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif item.suffix.lower() in VIDEO_SUFFIXES:
            count = int(cv2.VideoCapture(str(item)).get(cv2.CAP_PROP_FRAME_COUNT))
            if count <= 0:
                return None
            total += count
        else:
            total += 1
    return total


def person_record(person, lifted):
    """A Person2D and its pipeline.LiftedPerson -> the JSON record of one person."""
    keypoints = np.concatenate([person.joints_2d, person.confidence[:, None]], axis=1).astype(np.float64)
    placed = lifted.root is not None
    return {'id': int(person.id), 'score': round(float(person.score), 4),
            'box': [round(float(v), 2) for v in person.box],
            'keypoints_2d': np.round(keypoints, 3).tolist(), 'joints_3d': np.round(lifted.pose_m, 4).tolist(),
            'root': np.round(lifted.root, 4).tolist() if placed else None,
            'root_std': np.round(np.sqrt(np.diag(lifted.covariance)), 4).tolist() if placed else None}


def draw(bgr, people):
    """The people's 2D skeletons (joints with confidence >= 0.5 in full colour) and ids."""
    for person in people:
        colour = PALETTE[person.id % len(PALETTE)]
        points = person.joints_2d.astype(np.float64)
        confident = person.confidence >= 0.5
        for parent, child in DETECTED_BONES:
            thickness = 3 if confident[parent] and confident[child] else 1
            cv2.line(bgr, tuple(np.round(points[parent]).astype(int)), tuple(np.round(points[child]).astype(int)),
                     colour, thickness, cv2.LINE_AA)
        x0, y0 = np.round(person.box[:2]).astype(int)
        cv2.putText(bgr, f'id {person.id}', (x0, max(y0 - 5, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return bgr


def run(args):
    from pose3d_ros.inference.backends import set_process_threads
    from pose3d_ros.inference.blazepose import FrontEndSettings

    set_process_threads(args.backend, args.threads)
    calibration = calibrated_intrinsics(args.camera_info) if args.camera_info else None
    try:
        ground_plane = floor_plane(args.ground_plane) if args.ground_plane else None
    except ValueError as error:
        raise InputError(f'--ground-plane: {error}') from error
    settings = FrontEndSettings(max_people=args.max_people, landmark_flip_test=args.landmark_flip_test)
    pipeline = build_pipeline(
        args.front_end, lifter=args.lifter, hourglass=DEFAULT_HOURGLASS,
        prcnn=DEFAULT_PRCNN, landmark_model=args.landmark_model, backend=args.backend,
        threads=args.threads, cache_dir=args.cache_dir, settings=settings,
        person_detector=not args.no_person_detector)
    frames, writer, video_size = [], None, None
    previous_was_video = False
    for source, rgb, is_video_frame in tqdm(frames_of(args.inputs), total=count_frames(args.inputs),
                                            unit='frame', disable=args.quiet):
        height, width = rgb.shape[:2]
        if calibration is not None and calibration[0] != (width, height):
            raise InputError(f'{source} is {width}x{height} px but --camera-info {args.camera_info} '
                             f'is calibrated for {calibration[0][0]}x{calibration[0][1]}')
        if not (is_video_frame and previous_was_video):
            pipeline.reset()  # a photo, or a video's first frame: nothing to track from before
        previous_was_video = is_video_frame
        people = pipeline.people(rgb)
        intrinsics = calibration[1] if calibration else default_intrinsics(width, height)
        frames.append({'source': source, 'width': width, 'height': height,
                       'people': [person_record(p, pipeline.lift(p, **intrinsics, ground_plane=ground_plane))
                                  for p in people]})
        if args.video_out:
            bgr = draw(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), people)
            if writer is None:
                video_size = (width, height)
                writer = cv2.VideoWriter(str(args.video_out), cv2.VideoWriter_fourcc(*'mp4v'), args.fps, video_size)
            writer.write(cv2.resize(bgr, video_size) if (width, height) != video_size else bgr)
    if writer is not None:
        writer.release()
    result = {'joint_names_2d': [JOINT_NAMES[j] for j in DETECTED_JOINTS], 'joint_names_3d': list(JOINT_NAMES),
              'frames': frames}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, lambda file: file.write(json.dumps(result).encode()))
    found = sum(len(frame['people']) for frame in frames)
    print(f'pose3d_infer: {len(frames)} frames, {found} people found'
          + (f'; wrote {args.json}' if args.json else '') + (f'; wrote {args.video_out}' if args.video_out else ''))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('inputs', nargs='+', metavar='INPUT', help='image files, image folders or videos')
    parser.add_argument('--camera-info', help='camera_calibration YAML of the camera (default: 60 degree pinhole)')
    parser.add_argument('--json', help='write the poses here')
    parser.add_argument('--ground-plane', type=float, nargs=4, metavar=('A', 'B', 'C', 'D'),
                        help='the floor in the optical frame: A x + B y + C z + D = 0, metres, (A, B, C) up')
    parser.add_argument('--front-end', default='blazepose', choices=FRONT_ENDS)
    parser.add_argument('--landmark-model', default='heavy', choices=LANDMARK_MODELS,
                        help='blazepose landmark model (default %(default)s: offline, the most accurate)')
    parser.add_argument('--max-people', type=int, default=4)
    parser.add_argument('--landmark-flip-test', action='store_true',
                        help='blazepose: the landmark model also reads each crop mirrored, the two averaged')
    parser.add_argument('--no-person-detector', action='store_true',
                        help="drpose3d: crop around the previous frame's joints (the whole frame until "
                             "someone is found), not the person BlazePose's detector finds")
    parser.add_argument('--video-out', help='draw the skeletons into this MP4 video')
    parser.add_argument('--fps', type=float, default=30.0, help='frame rate of --video-out')
    parser.add_argument('--lifter', default=str(DEFAULT_LIFTER), help='lifter checkpoint (default: shipped)')
    parser.add_argument('--backend', default='onnxruntime', choices=('onnxruntime', 'pytorch', 'tensorrt'))
    parser.add_argument('--threads', type=int, default=None, help='ONNX Runtime threads')
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR))
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.max_people < 1:
        parser.error(f'--max-people must be at least 1, got {args.max_people}')
    try:
        run(args)
    except (InputError, ValueError, FileNotFoundError) as error:
        print(f'pose3d_infer: {error}', file=sys.stderr)
        return 2
    return 0
