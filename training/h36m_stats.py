"""pose3d_h36m_stats: print what a Human3.6M folder holds, to check the loader against the data.

Frames per subject and action (recordings at the folder's frame rate, counted once, not per
camera), each subject's virtual-camera centre V_c (DRPose3D eq. 7) with the cameras' distances
to it, and the range of joint depths seen by the cameras.
"""
import argparse
import warnings
from pathlib import Path

import numpy as np

from training.augmentation import fit_camera_distance, virtual_camera_center
from training.datasets.h36m import ACTIONS, DEFAULT_ROOT, load_h36m



def subject_statistics(sequences):
    """{subject: dict of frame counts per action, V_c, camera distances, depth percentiles}."""
    stats = {}
    for subject in sorted({s.subject for s in sequences}):
        own = [s for s in sequences if s.subject == subject]
        frames = {action: 0 for action in ACTIONS}
        for sequence in own:
            if sequence.camera_index == own[0].camera_index:  # count each recording once
                frames[sequence.action] += sequence.num_frames
        cameras = {s.camera_index: s.camera for s in own}
        centres = np.array([c.T for c in cameras.values()])
        axes = np.array([c.R[2] for c in cameras.values()])
        entry = {'frames': frames, 'cameras': sorted(cameras)}
        if len(cameras) >= 2:
            center = virtual_camera_center(centres, axes)
            entry['v_c'] = center
            entry['distances'] = np.linalg.norm(centres - center, axis=1)
            entry['distance_fit'] = fit_camera_distance(centres, center)
        depths = np.concatenate([s.poses_camera[..., 2].ravel() for s in own])
        entry['depth_percentiles'] = np.percentile(depths, [0, 5, 50, 95, 100])
        stats[subject] = entry
    return stats


def format_statistics(stats):
    subjects = sorted(stats)
    lines = ['Frames per action (each recording once):',
             f'{"action":<14}' + ''.join(f'{"S" + str(s):>8}' for s in subjects)]
    for action in ACTIONS:
        lines.append(f'{action:<14}' + ''.join(f'{stats[s]["frames"][action]:>8}' for s in subjects))
    lines.append(f'{"total":<14}' + ''.join(f'{sum(stats[s]["frames"].values()):>8}' for s in subjects))
    lines.append('')
    lines.append('Virtual-camera centre V_c (world, mm) and camera distances to it (mm):')
    for s in subjects:
        entry = stats[s]
        if 'v_c' not in entry:
            lines.append(f'S{s}: needs two cameras or more, have {entry["cameras"]}')
            continue
        mean, std = entry['distance_fit']
        distances = ', '.join(f'cam{c} {d:.0f}' for c, d in zip(entry['cameras'], entry['distances']))
        lines.append(f'S{s}: V_c = ({", ".join(f"{v:.0f}" for v in entry["v_c"])}); '
                     f'{distances}; normal fit {mean:.0f} +- {std:.0f}')
    lines.append('')
    lines.append('Joint depth in camera frames (mm): min / 5% / median / 95% / max')
    for s in subjects:
        lines.append(f'S{s}: ' + ' / '.join(f'{v:.0f}' for v in stats[s]['depth_percentiles']))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_ROOT,
                        help=f'Human3.6M folder (default: {DEFAULT_ROOT})')
    parser.add_argument('--subjects', type=int, nargs='+', default=[1, 5, 6, 7, 8, 9],
                        help='subject numbers (default: 1 5 6 7 8 9)')
    parser.add_argument('--cameras', type=int, nargs='+', default=[1, 2, 3, 4],
                        help='camera indices 1..4 (default: all)')
    args = parser.parse_args(argv)
    if not (args.data / 'cameras.h5').is_file():
        parser.error(f'not a Human3.6M folder (no cameras.h5): {args.data}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        sequences = load_h36m(args.data, args.subjects, cameras=args.cameras, detections=False)
    for warning in caught:
        print(f'warning: {warning.message}')
    if not sequences:
        parser.error(f'no recordings found for subjects {args.subjects} in {args.data}')
    print(format_statistics(subject_statistics(sequences)))
    return 0
