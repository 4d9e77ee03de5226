"""Synthetic training images: Human3.6M poses seen by virtual cameras, rendered (pose3d_ros.render).

Item i of epoch e is drawn from the seed sequence [seed, e, i] alone, so a dataset is the same
for any worker count and resumes exactly; each epoch renders new images of new draws.
"""
import sys
import warnings

import numpy as np
import torch

from pose3d_ros.camera import world_to_camera
from pose3d_ros.heatmaps import crop_to_heatmap, gaussian_heatmaps
from pose3d_ros.heatmaps import HEATMAP_STRIDE
from pose3d_ros.ranking import ranking_matrix
from pose3d_ros.skeleton import ROOT
from training.augmentation import sample_virtual_cameras
from training.datasets.h36m import load_h36m
from pose3d_ros.render import render_person

MIN_JOINT_DEPTH_MM = 800.0  # nearer than this the camera would stand inside the person


def load_poses(root, subjects, frame_step=1):
    """(N, 17, 3) world poses (mm) of the subjects' recordings at 10 fps, every frame_step-th."""
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        sequences = load_h36m(root, subjects, cameras=(1,), detections=False)
    if not sequences:
        raise ValueError(f'{root}: no Human3.6M poses for subjects {list(subjects)}')
    return np.concatenate([sequence.poses_world[::frame_step] for sequence in sequences])


class RenderedPoses(torch.utils.data.Dataset):
    """`count` renders per epoch of poses seen by virtual cameras aimed at the person.

    Items: image (3, S, S) uint8, heatmaps (J, S/4, S/4) float32, joints_2d (J, 2) crop pixels,
    visible (J,), depths (J,) mm, ranking (J, J) (eq. 1, ties 0.5), J = DETECTED_JOINTS,
    joint_weights (J,) and pair_weights (J, J) ones (every drawn joint and its depth are known,
    unlike on annotated photos), and
    head_size: the PCKh reference, the drawn head's upper neck-head top length in crop pixels at
    the head's depth, which unlike its 2D projection does not shrink with the view.
    """

    def __init__(self, poses_world, count, size=128, seed=0, camera_distance_mm=(4000.0, 1200.0),
                 heatmap_sigma=1.0, tie_mm=20.0):
        if size % HEATMAP_STRIDE:
            raise ValueError(f'image size must be a multiple of {HEATMAP_STRIDE}, got {size}')
        self.poses_world = np.asarray(poses_world, np.float64)
        self.count, self.size, self.seed = int(count), int(size), int(seed)
        self.camera_distance_mm = camera_distance_mm
        self.heatmap_sigma, self.tie_mm = heatmap_sigma, tie_mm
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.count

    def rendering(self, index):
        """The pose3d_ros.render.Rendering of item `index` this epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        pose = self.poses_world[rng.integers(len(self.poses_world))]
        while True:
            R, T = sample_virtual_cameras(rng, 1, pose[ROOT], *self.camera_distance_mm)
            pose_camera = world_to_camera(pose, R[0], T[0])
            if pose_camera[:, 2].min() > MIN_JOINT_DEPTH_MM:
                return render_person(rng, pose_camera, self.size)

    def __getitem__(self, index):
        if not 0 <= index < self.count:
            raise IndexError(f'item {index} of {self.count}')
        rendering = self.rendering(index)
        heatmap_size = self.size // HEATMAP_STRIDE
        heatmaps = gaussian_heatmaps(crop_to_heatmap(rendering.joints_2d, HEATMAP_STRIDE), heatmap_size,
                                     self.heatmap_sigma)
        return {
            'image': torch.from_numpy(np.ascontiguousarray(rendering.image.transpose(2, 0, 1))),
            'heatmaps': torch.from_numpy(heatmaps),
            'joint_weights': torch.ones(len(heatmaps)),
            'joints_2d': torch.from_numpy(rendering.joints_2d),
            'visible': torch.from_numpy(rendering.visible),
            'depths': torch.from_numpy(rendering.depths),
            'ranking': torch.from_numpy(ranking_matrix(rendering.depths, self.tie_mm)),
            'pair_weights': torch.ones(len(heatmaps), len(heatmaps)),
            'head_size': torch.tensor(rendering.head_size, dtype=torch.float32),
        }


def contact_sheet(dataset, count, columns=8):
    """(rows * S, columns * S, 3) uint8: the first `count` renders with their joints marked
    (green: visible, red: hidden)."""
    import cv2

    tiles = []
    for index in range(count):
        rendering = dataset.rendering(index)
        tile = np.ascontiguousarray(rendering.image)
        for (x, y), visible in zip(rendering.joints_2d, rendering.visible):
            cv2.circle(tile, (int(round(x)), int(round(y))), 1, (0, 255, 0) if visible else (255, 0, 0), -1)
        tiles.append(tile)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    return np.concatenate([np.concatenate(tiles[row:row + columns], 1) for row in range(0, len(tiles), columns)])


def main(argv=None):
    """pose3d_render_samples: time the renderer on one process and save a contact sheet."""
    import argparse
    import time

    import cv2

    from pose3d_ros.atomic import atomic_write
    from training import cli
    from training.datasets.h36m import DEFAULT_ROOT, TRAIN_SUBJECTS

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument('--data', default=str(DEFAULT_ROOT))
    parser.add_argument('--subjects', type=int, nargs='+', default=list(TRAIN_SUBJECTS))
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--count', type=int, default=500, help='renders to time (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='PNG contact sheet of the first 32 renders')
    args = parser.parse_args(argv)

    def command():
        dataset = RenderedPoses(load_poses(args.data, args.subjects), args.count, args.size, args.seed)
        start = time.perf_counter()
        for index in range(args.count):
            dataset[index]
        elapsed = time.perf_counter() - start
        print(f'{args.count} renders of {args.size} x {args.size} (image, heatmaps, ranking) in {elapsed:.1f} s: '
              f'{args.count / elapsed:.0f} per second on one process')
        if args.out:
            sheet = cv2.cvtColor(contact_sheet(dataset, min(32, args.count)), cv2.COLOR_RGB2BGR)
            encoded = cv2.imencode('.png', sheet)[1].tobytes()
            atomic_write(args.out, lambda file: file.write(encoded))
    return cli.run(command)


if __name__ == '__main__':
    sys.exit(main())
