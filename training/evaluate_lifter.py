"""Evaluate a lifter checkpoint on Human3.6M: per-action table and a JSON report.

    pose3d_eval_lifter --checkpoint weights.pt --subjects 9 --protocol 1 \
        --inputs-2d detections --ranking noisy --json result.json

Protocol #1: MPJPE after root alignment; #2: after Procrustes alignment; #3: MPJPE on the unseen
camera 4. 2D inputs: the ground-truth projection or the stacked-hourglass detections, optionally
plus a front end's noise model (--front-end-noise, one seeded draw). Every protocol also reports
the Procrustes-aligned error (PA-MPJPE, #2's) and where each person is: MRPE, the mean distance between the root placed by pose3d_ros.root (the
translation that fits the lifted pose to the 2D inputs, every joint weighted alike; with
--ground-prior also the floor under the feet, each camera's from its calibration) and the true
root, with its x, y and z parts (3DMPPE's table). Rankings:
none, the ground truth (eq. 1), or noisy: eq. 1 on depths moved by --depth-error-mm (none by
default), each pair then flipped with probability 1 - p_ij (uniform 0.91 by default, or an N x N
accuracy file), seeded. Each input is lifted together with its mirror image and the two poses
averaged, unless --no-mirror-average.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from pose3d_ros.atomic import atomic_write
from pose3d_ros.models.lifter import load_lifter
from pose3d_ros.root import ground_scales, root_positions, scale_to_height
from pose3d_ros.skeleton import JOINT_NAMES, ROOT
from training import cli
from training.datasets.h36m import DEFAULT_ROOT, load_h36m
from training.datasets.lifting import (DEFAULT_PAIR_ACCURACY, INPUTS_2D, RANKINGS, RankingNoise,
                                       add_front_end_noise, front_end_noise_model, lifting_frames, ranking_inputs)
from training.metrics import p_mpjpe, per_action_mean, per_joint_errors, procrustes_align, protocol_cameras, protocol_error


@torch.no_grad()
def predict(model, frames, ranking, tie_mm, ranking_noise, seed, mirror_average=True, batch_size=4096):
    """(F, 17, 3) mm predictions for LiftingFrames; rankings drawn in order from one seeded stream
    (ranking_noise: a RankingNoise for 'noisy')."""
    rng = np.random.default_rng(seed)
    device = next(model.parameters()).device
    model.eval()
    predictions = []
    for start in range(0, len(frames), batch_size):
        batch = slice(start, start + batch_size)
        matrices = ranking_inputs(rng, frames.poses_camera[batch], ranking, tie_mm, ranking_noise)
        joints = torch.from_numpy(frames.joints_2d[batch]).to(device)
        matrices = None if matrices is None else torch.from_numpy(matrices).to(device)
        predictions.append(model.predict(joints, matrices, mirror_average).cpu().numpy())
    return np.concatenate(predictions)


def root_errors(predictions, frames, body_height_m=0.0, floor_planes=None):
    """(F, 3) placed root minus true root, mm (NaN rows where no root could be placed); with
    body_height_m > 0 each pose is first rescaled to that standing height; with (F, 4) floor_planes
    (optical frame, pose3d_ros.root.ground_scales) the floor refines each placement it can."""
    relative = (predictions - predictions[:, ROOT:ROOT + 1]) / 1000.0
    if body_height_m > 0:
        relative = scale_to_height(relative, body_height_m)
    confidence = np.ones(frames.joints_2d.shape[:2])
    roots, _ = root_positions(relative, frames.joints_2d, confidence)
    if floor_planes is not None:
        scales, _ = ground_scales(relative, roots, confidence, floor_planes)
        roots = roots * np.where(np.isnan(scales), 1.0, scales)[:, None]
    return roots * 1000.0 - frames.poses_camera[:, ROOT]


def evaluate(model, frames, protocol, ranking, tie_mm, ranking_noise=None, seed=0, mirror_average=True,
             root=False, body_height_m=0.0, floor_planes=None):
    """Errors of a model on LiftingFrames -> dict with mpjpe_mm (the protocol's error, mean over
    actions), pa_mpjpe_mm (after Procrustes alignment), per_action_mm, per_joint_mm, frames and,
    with root, the root position errors (mrpe_mm, its mean absolute x, y, z parts, their signed
    means root_bias_xyz_mm (placed minus true), frames placed; poses rescaled to body_height_m
    when > 0, placements refined by (F, 4) floor_planes when given)."""
    predictions = predict(model, frames, ranking, tie_mm, ranking_noise, seed, mirror_average)
    target = frames.poses_camera.astype(np.float64)
    placed = {}
    if root:
        offsets = root_errors(predictions, frames, body_height_m, floor_planes)
        found = ~np.isnan(offsets[:, 0])
        placed = {'mrpe_mm': float(np.linalg.norm(offsets[found], axis=1).mean()),
                  'mrpe_xyz_mm': np.abs(offsets[found]).mean(axis=0).tolist(),
                  'root_bias_xyz_mm': offsets[found].mean(axis=0).tolist(), 'root_placed_frames': int(found.sum())}
    errors = protocol_error(protocol, predictions, target)
    per_action, average = per_action_mean(errors, frames.actions)
    # The Procrustes-aligned error too, whatever the protocol (VideoPose3D prints #1 and #2 together).
    _, aligned_average = per_action_mean(errors if protocol == 2 else p_mpjpe(predictions, target), frames.actions)
    if protocol == 2:
        predictions = procrustes_align(predictions, target)
    per_joint = per_joint_errors(predictions, target)
    return {'mpjpe_mm': average, 'pa_mpjpe_mm': aligned_average, 'per_action_mm': per_action,
            'per_joint_mm': dict(zip(JOINT_NAMES, per_joint.tolist())), 'frames': len(frames), **placed}


def format_table(result):
    lines = [f'{"action":<14}{"mm":>8}']
    lines += [f'{action:<14}{error:8.1f}' for action, error in result['per_action_mm'].items()]
    lines.append(f'{"Average":<14}{result["mpjpe_mm"]:8.1f}   ({result["frames"]} frames)')
    lines.append(f'{"PA-MPJPE":<14}{result["pa_mpjpe_mm"]:8.1f}   (Procrustes-aligned, Protocol #2\'s error)')
    if 'mrpe_mm' in result:
        x, y, z = result['mrpe_xyz_mm']
        bias = ' / '.join(f'{value:+.1f}' for value in result['root_bias_xyz_mm'])
        lines.append(f'{"MRPE":<14}{result["mrpe_mm"]:8.1f}   (x {x:.1f}, y {y:.1f}, z {z:.1f}; placed minus true '
                     f'on average {bias}; {result["root_placed_frames"]} frames placed)')
    return '\n'.join(lines)


def number_or_file(text):
    try:
        return float(text)
    except ValueError:
        return text  # a file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, help='lifter checkpoint (training run or shipped)')
    parser.add_argument('--data', default=str(DEFAULT_ROOT), help='Human3.6M folder (default: %(default)s)')
    parser.add_argument('--subjects', type=int, nargs='+', default=[9], help='test subjects (default: 9)')
    parser.add_argument('--protocol', type=int, choices=(1, 2, 3), default=1)
    parser.add_argument('--inputs-2d', choices=INPUTS_2D, default='ground_truth')
    parser.add_argument('--front-end-noise', help='add a draw of this torso-unit noise model '
                                                  '(pose3d_fit_front_end_noise) to the 2D inputs')
    parser.add_argument('--ranking', choices=RANKINGS,
                        help="ranking source (default: the checkpoint's training ranking)")
    parser.add_argument('--pair-accuracy', type=number_or_file, default=DEFAULT_PAIR_ACCURACY,
                        help='noisy ranking: uniform per-pair accuracy, or an N x N .npy/.json file '
                             '(default: %(default)s)')
    parser.add_argument('--depth-error-mm', type=number_or_file, default=0.0,
                        help='noisy ranking: per-joint depth noise (standard deviation, mm) before the flips, '
                             'one number or a .npy of N (pose3d_eval_real_3d --depth-error-out; default: %(default)s)')
    parser.add_argument('--tie-mm', type=float, help="eq. 1 tie band (default: the checkpoint's)")
    parser.add_argument('--seed', type=int, default=0, help='seed of the noisy ranking flips and the 2D noise')
    parser.add_argument('--mirror-average', action=argparse.BooleanOptionalAction, default=True,
                        help='average with the lifted mirrored input (default: %(default)s)')
    parser.add_argument('--frame-step', type=int, default=1, help='evaluate every n-th frame')
    parser.add_argument('--body-height-m', type=float, default=0.0,
                        help="place the roots with this body-height prior (pose3d_ros.root's standing height)")
    parser.add_argument('--ground-prior', action='store_true',
                        help="place the roots with the floor under the feet (each camera's world z = 0 plane, "
                             "pose3d_ros.root.refine_with_ground)")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--allow-seen-camera', action='store_true',
                        help='evaluate Protocol #3 even with a checkpoint trained on its test camera (flagged)')
    parser.add_argument('--json', help='write the report here')
    args = parser.parse_args(argv)
    return cli.run(lambda: evaluate_command(args))


def evaluate_command(args):
    model, checkpoint = load_lifter(args.checkpoint, args.device)
    kind, data = checkpoint['model']['type'], checkpoint['data']
    ranking = args.ranking or data['ranking']
    if model.uses_ranking and ranking == 'none':
        raise ValueError(f'{args.checkpoint}: this {kind} model needs a ranking')
    if not model.uses_ranking and ranking != 'none':
        raise ValueError(f'{args.checkpoint}: this {kind} model reads no ranking; use --ranking none')
    tie_mm = args.tie_mm if args.tie_mm is not None else data['tie_mm']
    ranking_noise = RankingNoise.load(args.pair_accuracy, args.depth_error_mm) if ranking == 'noisy' else None
    cameras = protocol_cameras(args.protocol)[1]
    seen = sorted(set(protocol_cameras(data['protocol'])[0]) & set(cameras))
    if seen and args.protocol == 3:
        message = (f'{args.checkpoint}: trained on cameras {list(protocol_cameras(data["protocol"])[0])} '
                   f'(protocol {data["protocol"]}), which include Protocol #3\'s test camera {seen[0]}')
        if not args.allow_seen_camera:
            raise ValueError(message + '; its Protocol #3 error would not measure a new viewpoint '
                                       '(--allow-seen-camera evaluates it anyway, flagged)')
        print(f'WARNING: {message}: not a Protocol #3 result', file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        sequences = load_h36m(args.data, args.subjects, cameras=cameras,
                              detections=args.inputs_2d == 'detections')
    frames = lifting_frames(sequences, args.inputs_2d, args.frame_step)
    floor_planes = np.concatenate([np.tile(sequence.camera.floor_plane(), (len(range(0, sequence.num_frames,
                                                                                      args.frame_step)), 1))
                                   for sequence in sequences]) if args.ground_prior else None
    if args.front_end_noise:
        noise = front_end_noise_model(args.front_end_noise)
        frames.joints_2d = add_front_end_noise(np.random.default_rng([args.seed, 2]), frames.joints_2d, noise)
    result = evaluate(model, frames, args.protocol, ranking, tie_mm, ranking_noise, args.seed,
                      args.mirror_average, root=True, body_height_m=args.body_height_m, floor_planes=floor_planes)
    report = {
        'checkpoint': str(args.checkpoint), 'model': kind,
        'protocol': args.protocol, 'subjects': args.subjects, 'cameras': list(cameras),
        'inputs': args.inputs_2d, 'front_end_noise': args.front_end_noise, 'mirror_average': args.mirror_average,
        'body_height_m': args.body_height_m, 'ground_prior': args.ground_prior,
        'test_camera_seen_in_training': bool(seen) and args.protocol == 3,
        'ranking': {'source': ranking, 'tie_mm': tie_mm, 'seed': args.seed,
                    'pair_accuracy': args.pair_accuracy if ranking == 'noisy' else None,
                    'depth_error_mm': args.depth_error_mm if ranking == 'noisy' else None},
        **result,
    }
    noise = f' + {args.front_end_noise}' if args.front_end_noise else ''
    print(f'{kind}  protocol #{args.protocol}  subjects {args.subjects}  2D {args.inputs_2d}{noise}  '
          f'ranking {ranking}')
    print(format_table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, lambda file: file.write(json.dumps(report, indent=2).encode() + b'\n'))


if __name__ == '__main__':
    sys.exit(main())
