"""Jitter and lag of the lifter node's One-Euro smoothing (pose3d_ros/smoothing.py) on real video.

    .venv/bin/python bench/smoothing.py --threads 2 --json runs/bench/smoothing.json

Frames: Pose2Sim's Demo_SinglePerson and Demo_MultiPerson videos (real, 4 calibrated cameras
each, 100 frames at 60 fps, fetched from PyPI into the cache), every second frame: 50 frames at
30 Hz per camera. The camera node's pipeline (BlazePose `full` front end in video mode, the
shipped lifter, ONNX Runtime) lifts every tracked person and places their root (pose3d_ros.root,
the camera's calibrated intrinsics); the filter then runs over each track exactly as the lifter
node runs it, with the frames' timestamps, for each --settings pair (min cutoff Hz, beta).

- jitter: mean over tracks, frames and values of |x(t+1) - 2 x(t) + x(t-1)| (the frame-to-frame
  acceleration), of the root-relative joints and of the root, mm per frame^2;
- lag: the shift, in frames, that best aligns the filtered trajectory with the unfiltered one
  (smallest mean absolute difference, the unfiltered one linearly interpolated, 0-3 frames in
  steps of 0.05), over the joints' positions in the camera frame (root + root-relative).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pose3d_ros.atomic import atomic_write  # noqa: E402
from pose3d_ros.inference.backends import set_process_threads  # noqa: E402
from pose3d_ros.inference.blazepose import FrontEndSettings  # noqa: E402
from pose3d_ros.inference.pipeline import build_pipeline  # noqa: E402
from pose3d_ros.paths import DEFAULT_LIFTER  # noqa: E402
from pose3d_ros.paths import DEFAULT_CACHE_DIR  # noqa: E402
from pose3d_ros.smoothing import TrackSmoother  # noqa: E402
from training.datasets.pose2sim import (CALIBRATION_FILE, CAMERA_NAMES, VIDEO_HZ, fetch_demo,  # noqa: E402
                                        load_qca_calibration, read_video_frames)
from training.evaluate_real_3d import undistorted  # noqa: E402

DEMOS = ('Demo_SinglePerson', 'Demo_MultiPerson')
STEP = 2
SHIFTS = np.arange(0.0, 3.0001, 0.05)


def tracks_of_video(pipeline, frames, camera):
    """{track id: (times (T,), poses (T, 17, 3) m, roots (T, 3) m)} over the frames where the id was
    lifted and placed; only runs of consecutive frames count (the longest run per id)."""
    pipeline.reset()
    samples = {}
    for index, rgb in enumerate(frames):
        for person in pipeline.people(rgb):
            lifted = pipeline.lift(undistorted(person, camera), tuple(camera.focal), tuple(camera.center))
            if lifted.root is not None:
                samples.setdefault(person.id, []).append((index, lifted.pose_m, lifted.root))
    tracks = {}
    for track_id, rows in samples.items():
        indices = np.array([row[0] for row in rows])
        breaks = np.nonzero(np.diff(indices) != 1)[0] + 1
        longest = max(np.split(np.arange(len(rows)), breaks), key=len)
        if len(longest) >= 10:
            tracks[track_id] = (indices[longest] * STEP / VIDEO_HZ, np.stack([rows[k][1] for k in longest]),
                                np.stack([rows[k][2] for k in longest]))
    return tracks


def smooth(track_id, times, poses, roots, settings):
    smoother = TrackSmoother(*settings)
    filtered_poses = np.stack([smoother(track_id, 'pose', t, pose) for t, pose in zip(times, poses)])
    filtered_roots = np.stack([smoother(track_id, 'root', t, root) for t, root in zip(times, roots)])
    return filtered_poses, filtered_roots


def jitter_mm(values):
    """Mean |second difference| over frames, mm per frame^2, of (T, ...) metres."""
    return float(np.abs(np.diff(values, n=2, axis=0)).mean() * 1000)


def lag_frames(filtered, raw):
    """The shift (frames) minimizing mean |filtered(t) - raw(t - shift)|, raw linearly interpolated."""
    flat_f, flat_r = filtered.reshape(len(filtered), -1), raw.reshape(len(raw), -1)
    frames = np.arange(len(raw))
    errors = []
    for shift in SHIFTS:
        kept = frames >= np.ceil(shift) + 1  # only where the shifted raw signal exists
        position = frames[kept] - shift
        low = np.floor(position).astype(int)
        weight = (position - low)[:, None]
        shifted = flat_r[low] * (1 - weight) + flat_r[np.minimum(low + 1, len(raw) - 1)] * weight
        errors.append(np.abs(flat_f[kept] - shifted).mean())
    return float(SHIFTS[int(np.argmin(errors))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--settings', nargs='+', default=['1.0,1.0', '2.0,3.0', '4.0,1.0', '2.0,10.0'],
                        help='min_cutoff_hz,beta pairs to measure')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR))
    parser.add_argument('--json', help='write the report here')
    args = parser.parse_args(argv)
    settings = [tuple(float(v) for v in text.split(',')) for text in args.settings]
    set_process_threads('onnxruntime', args.threads)
    pipeline = build_pipeline('blazepose', lifter=DEFAULT_LIFTER, landmark_model='full', backend='onnxruntime',
                              threads=args.threads, cache_dir=args.cache_dir, settings=FrontEndSettings(max_people=4))
    folder = fetch_demo(args.cache_dir)
    report = {'data': f'Pose2Sim {" and ".join(DEMOS)}, 4 cameras each, every 2nd frame (30 Hz)', 'demos': {}}
    for demo in DEMOS:
        cameras = load_qca_calibration(folder / demo / CALIBRATION_FILE)
        tracks = []
        for name in CAMERA_NAMES:
            frames = read_video_frames(folder / demo / 'videos' / f'{name}.mp4', step=STEP)
            tracks += list(tracks_of_video(pipeline, frames, cameras[name]).items())
        rows = {'unfiltered': {'joints_jitter_mm': np.mean([jitter_mm(p) for _, (_, p, _) in tracks]),
                               'root_jitter_mm': np.mean([jitter_mm(r) for _, (_, _, r) in tracks]), 'lag_frames': 0.0}}
        for setting in settings:
            joints, root, lag = [], [], []
            for track_id, (times, poses, roots) in tracks:
                filtered_poses, filtered_roots = smooth(track_id, times, poses, roots, setting)
                joints.append(jitter_mm(filtered_poses))
                root.append(jitter_mm(filtered_roots))
                lag.append(lag_frames(filtered_poses + filtered_roots[:, None], poses + roots[:, None]))
            rows[f'min_cutoff {setting[0]:g} Hz, beta {setting[1]:g}'] = {
                'joints_jitter_mm': float(np.mean(joints)), 'root_jitter_mm': float(np.mean(root)),
                'lag_frames': float(np.mean(lag))}
        report['demos'][demo] = {'tracks': len(tracks), 'frames': int(sum(len(t[1][0]) for t in tracks)), 'rows': rows}
        print(f'{demo}: {len(tracks)} tracks, {report["demos"][demo]["frames"]} frames at 30 Hz')
        print(f'{"":32s} {"joints jitter":>14s} {"root jitter":>12s} {"lag":>6s}  (mm/frame^2, frames)')
        for name, row in rows.items():
            print(f'{name:32s} {row["joints_jitter_mm"]:14.2f} {row["root_jitter_mm"]:12.2f} {row["lag_frames"]:6.2f}')
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, lambda file: file.write(json.dumps(report, indent=1).encode()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
