"""Evaluate a lifter checkpoint on Human3.6M: per-action table and a JSON report.

    pose3d_eval_lifter --checkpoint weights.pt --subjects 9 --protocol 1 \
        --inputs-2d detections --ranking noisy --json result.json

Protocol #1: MPJPE after root alignment; #2: after Procrustes alignment; #3: MPJPE on the unseen
camera 4. 2D inputs: the ground-truth projection or the stacked-hourglass detections. Rankings:
none, the ground truth (eq. 1), or the ground truth flipped per pair with probability 1 - p_ij
(uniform 0.91 by default, or an N x N accuracy file), seeded. Each input is lifted together with
its mirror image and the two poses averaged, unless --no-mirror-average.
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
from pose3d_ros.skeleton import JOINT_NAMES
from training import cli
from training.datasets.h36m import DEFAULT_ROOT, load_h36m
from training.datasets.lifting import (DEFAULT_PAIR_ACCURACY, INPUTS_2D, RANKINGS, lifting_frames,
                                       load_pair_accuracy, ranking_inputs)
from training.metrics import per_action_mean, per_joint_errors, procrustes_align, protocol_cameras, protocol_error


@torch.no_grad()
def predict(model, frames, ranking, tie_mm, pair_accuracy, seed, mirror_average=True, batch_size=4096):
    """(F, 17, 3) mm predictions for LiftingFrames; rankings drawn in order from one seeded stream."""
    rng = np.random.default_rng(seed)
    device = next(model.parameters()).device
    model.eval()
    predictions = []
    for start in range(0, len(frames), batch_size):
        batch = slice(start, start + batch_size)
        matrices = ranking_inputs(rng, frames.poses_camera[batch], ranking, tie_mm, pair_accuracy)
        joints = torch.from_numpy(frames.joints_2d[batch]).to(device)
        matrices = None if matrices is None else torch.from_numpy(matrices).to(device)
        predictions.append(model.predict(joints, matrices, mirror_average).cpu().numpy())
    return np.concatenate(predictions)


def evaluate(model, frames, protocol, ranking, tie_mm, pair_accuracy=None, seed=0, mirror_average=True):
    """Errors of a model on LiftingFrames -> dict with mpjpe_mm (mean over actions), per_action_mm,
    per_joint_mm and frames."""
    predictions = predict(model, frames, ranking, tie_mm, pair_accuracy, seed, mirror_average)
    target = frames.poses_camera.astype(np.float64)
    per_action, average = per_action_mean(protocol_error(protocol, predictions, target), frames.actions)
    if protocol == 2:
        predictions = procrustes_align(predictions, target)
    per_joint = per_joint_errors(predictions, target)
    return {'mpjpe_mm': average, 'per_action_mm': per_action,
            'per_joint_mm': dict(zip(JOINT_NAMES, per_joint.tolist())), 'frames': len(frames)}


def format_table(result):
    lines = [f'{"action":<14}{"mm":>8}']
    lines += [f'{action:<14}{error:8.1f}' for action, error in result['per_action_mm'].items()]
    lines.append(f'{"Average":<14}{result["mpjpe_mm"]:8.1f}   ({result["frames"]} frames)')
    return '\n'.join(lines)


def pair_accuracy_argument(text):
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
    parser.add_argument('--ranking', choices=RANKINGS,
                        help="ranking source (default: the checkpoint's training ranking)")
    parser.add_argument('--pair-accuracy', type=pair_accuracy_argument, default=DEFAULT_PAIR_ACCURACY,
                        help='noisy ranking: uniform per-pair accuracy, or an N x N .npy/.json file '
                             '(default: %(default)s)')
    parser.add_argument('--tie-mm', type=float, help="eq. 1 tie band (default: the checkpoint's)")
    parser.add_argument('--seed', type=int, default=0, help='seed of the noisy ranking flips')
    parser.add_argument('--mirror-average', action=argparse.BooleanOptionalAction, default=True,
                        help='average with the lifted mirrored input (default: %(default)s)')
    parser.add_argument('--frame-step', type=int, default=1, help='evaluate every n-th frame')
    parser.add_argument('--device', default='cpu')
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
    pair_accuracy = load_pair_accuracy(args.pair_accuracy) if ranking == 'noisy' else None
    cameras = protocol_cameras(args.protocol)[1]
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        sequences = load_h36m(args.data, args.subjects, cameras=cameras,
                              detections=args.inputs_2d == 'detections')
    frames = lifting_frames(sequences, args.inputs_2d, args.frame_step)
    result = evaluate(model, frames, args.protocol, ranking, tie_mm, pair_accuracy, args.seed,
                      args.mirror_average)
    report = {
        'checkpoint': str(args.checkpoint), 'model': kind,
        'protocol': args.protocol, 'subjects': args.subjects, 'cameras': list(cameras),
        'inputs': args.inputs_2d, 'mirror_average': args.mirror_average,
        'ranking': {'source': ranking, 'tie_mm': tie_mm, 'seed': args.seed,
                    'pair_accuracy': args.pair_accuracy if ranking == 'noisy' else None},
        **result,
    }
    print(f'{kind}  protocol #{args.protocol}  subjects {args.subjects}  2D {args.inputs_2d}  '
          f'ranking {ranking}')
    print(format_table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, lambda file: file.write(json.dumps(report, indent=2).encode() + b'\n'))


if __name__ == '__main__':
    sys.exit(main())
