"""Charts of lifter evaluation reports (pose3d_eval_lifter --json): per-joint and per-action MPJPE.

    pose3d_plot_lifter --reports a.json b.json --labels A B --out docs/img/lifter
writes <out>_per_joint.png and <out>_per_action.png, one bar group per report.
"""
import argparse
import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from pose3d_ros.atomic import atomic_write  # noqa: E402
from pose3d_ros.skeleton import JOINT_NAMES, ROOT  # noqa: E402
from training import cli  # noqa: E402
from training.datasets.h36m import ACTIONS  # noqa: E402


def grouped_bars(path, categories, series, ylabel, title):
    """One bar per (category, series) pair; series maps a label to one value per category."""
    figure, axes = plt.subplots(figsize=(max(8.0, 0.6 * len(categories) * max(1, len(series)) ** 0.5), 4.5))
    width = 0.8 / len(series)
    positions = np.arange(len(categories))
    for index, (label, values) in enumerate(series.items()):
        axes.bar(positions + (index - (len(series) - 1) / 2) * width, values, width, label=label)
    axes.set_xticks(positions, categories, rotation=45, ha='right')
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(axis='y', alpha=0.3)
    axes.legend()
    figure.tight_layout()
    atomic_write(path, lambda file: figure.savefig(file, format='png', dpi=110))
    plt.close(figure)


def plot_reports(reports, labels, out):
    """Write <out>_per_joint.png and <out>_per_action.png; returns their paths."""
    joints = [name for index, name in enumerate(JOINT_NAMES) if index != ROOT]
    actions = [action for action in ACTIONS if all(action in r['per_action_mm'] for r in reports)]
    protocols = ', '.join(sorted({f'#{r["protocol"]}' for r in reports}))
    subjects = ', '.join(sorted({'S' + '+S'.join(map(str, r['subjects'])) for r in reports}))
    description = f'Protocol {protocols}; {subjects}'
    per_joint = Path(f'{out}_per_joint.png')
    per_action = Path(f'{out}_per_action.png')
    per_joint.parent.mkdir(parents=True, exist_ok=True)
    grouped_bars(per_joint, joints, {label: [r['per_joint_mm'][j] for j in joints]
                                     for label, r in zip(labels, reports)},
                 'error (mm)', f'Per-joint error, {description}')
    grouped_bars(per_action, actions, {label: [r['per_action_mm'][a] for a in actions]
                                       for label, r in zip(labels, reports)},
                 'MPJPE (mm)', f'Per-action error, {description}')
    return per_joint, per_action


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reports', nargs='+', required=True, help='evaluation JSON files')
    parser.add_argument('--labels', nargs='+', help='legend labels (default: file names)')
    parser.add_argument('--out', required=True, help='output path prefix')
    args = parser.parse_args(argv)
    return cli.run(lambda: plot_files(args.reports, args.labels, args.out))


def read_report(path):
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f'{path}: cannot read an evaluation report ({error})') from None
    missing = {'protocol', 'subjects', 'per_joint_mm', 'per_action_mm'} - set(report)
    if missing:
        raise ValueError(f'{path}: not an evaluation report, missing {sorted(missing)}')
    return report


def plot_files(paths, labels, out):
    labels = labels or [Path(path).stem for path in paths]
    if len(labels) != len(paths):
        raise ValueError(f'{len(paths)} reports but {len(labels)} labels')
    for written in plot_reports([read_report(path) for path in paths], labels, out):
        print(written)


if __name__ == '__main__':
    sys.exit(main())
