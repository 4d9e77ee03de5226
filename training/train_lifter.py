"""Train a lifter (baseline, DPNet, its ablation, or the ordinal reconstruction) on Human3.6M.

    pose3d_train_lifter --config training/configs/lifter/dpnet_gt2d_gtrank.yaml --out runs/dpnet

One YAML file per experiment (see training/configs/lifter/). The run folder gets a copy of the
config, `checkpoint.pt` rewritten atomically after every epoch (model, optimizer, scheduler,
history, normalization statistics inside the model), `history.jsonl` and, with virtual cameras
and detection noise, the fitted noise model. Running the same command again resumes from the
checkpoint; every epoch draws its own seeded randomness, so a resumed run equals an uninterrupted
one; raising train.epochs and running again extends a finished run. Uses CUDA when present
unless --device says otherwise.
"""
import argparse
import copy
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from pose3d_ros.atomic import atomic_write
from pose3d_ros.models.lifter import CHECKPOINT_FORMAT, build_lifter
from pose3d_ros.skeleton import NON_ROOT_JOINTS, ROOT
from training import cli
from training.augmentation import DetectionNoiseModel, fit_detection_noise
from training.datasets.h36m import DEFAULT_ROOT, TEST_SUBJECTS, TRAIN_SUBJECTS, load_h36m
from training.datasets.lifting import (DEFAULT_PAIR_ACCURACY, INPUTS_2D, RANKINGS, LiftingFrames, detection_residuals,
                                       lifting_frames, load_pair_accuracy, training_batch,
                                       virtual_camera_frames)
from training.evaluate_lifter import evaluate
from training.losses import lifter_loss
from training.metrics import protocol_cameras

DEFAULTS = {
    'model': {'type': 'dpnet'},
    'data': {
        'root': None,                     # None: ../shared/data/h36m beside the checkout
        'train_subjects': list(TRAIN_SUBJECTS),
        'eval_subjects': [TEST_SUBJECTS[0]],
        'protocol': 1,                    # picks the training and evaluation cameras
        'inputs_2d': 'ground_truth',      # or 'detections' (stacked hourglass)
        'frame_step': 1,                  # subsample the 10 fps training frames
        'ranking': 'ground_truth',        # 'none', 'ground_truth' or 'noisy'
        'pair_accuracy': DEFAULT_PAIR_ACCURACY,  # noisy: a uniform accuracy or an N x N file
        'tie_mm': 20.0,                   # eq. 1 tie band
    },
    'augmentation': {
        'mirror': True,                   # random left-right mirroring
        'virtual_cameras': 0,             # virtual cameras per training pose, redrawn every epoch
        'detection_noise': False,         # GMM hourglass noise on the virtual cameras' 2D joints
        'noise_fit_frames': 20000,        # residual frames the GMM is fitted on
    },
    'train': {
        'epochs': 10,
        'samples_per_epoch': None,        # None: every training frame once per epoch
        'batch_size': 256,
        'lr': 1.0e-3,
        'lr_decay': 0.9,                  # exponential, per epoch
        'seed': 0,
        'eval_every': 1,                  # epochs
        'eval_frame_step': 4,
    },
}


def load_config(path):
    """YAML experiment file merged over DEFAULTS; unknown sections or keys are errors."""
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f'{path}: cannot read the config ({error})') from None
    if not isinstance(loaded, dict):
        raise ValueError(f'{path}: expected a mapping of sections, got {type(loaded).__name__}')
    config = copy.deepcopy(DEFAULTS)
    for section, values in loaded.items():
        if section not in config or not isinstance(values, dict):
            raise ValueError(f'{path}: unknown or malformed section {section!r}; expected '
                             f'mappings named {sorted(config)}')
        if section != 'model':  # model keys are the constructor's, checked by build_lifter
            unknown = set(values) - set(config[section])
            if unknown:
                raise ValueError(f'{path}: unknown key(s) {sorted(unknown)} in {section!r}; '
                                 f'expected {sorted(config[section])}')
        config[section].update(values)
    data = config['data']
    if data['inputs_2d'] not in INPUTS_2D:
        raise ValueError(f'{path}: data.inputs_2d must be one of {INPUTS_2D}, got {data["inputs_2d"]!r}')
    if data['ranking'] not in RANKINGS:
        raise ValueError(f'{path}: data.ranking must be one of {RANKINGS}, got {data["ranking"]!r}')
    protocol_cameras(data['protocol'])
    model = build_lifter(config['model'])
    if model.uses_ranking == (data['ranking'] == 'none'):
        raise ValueError(f'{path}: model {config["model"]["type"]!r} and data.ranking '
                         f'{data["ranking"]!r} do not go together')
    return config


def resumable(config):
    """The part of a config that must match to resume: all but train.epochs (to extend a run)
    and data.root (the data may move)."""
    if config is None:
        return None
    config = copy.deepcopy(config)
    del config['train']['epochs'], config['data']['root']
    return config


def resolve_device(name):
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    return name


def save_checkpoint(path, checkpoint):
    atomic_write(path, lambda file: torch.save(checkpoint, file))


def normalization(frames):
    """Mean and std of the lifter's inputs and root-relative targets over the training frames."""
    inputs = frames.joints_2d.reshape(len(frames), -1).astype(np.float64)
    relative = frames.poses_camera - frames.poses_camera[:, ROOT:ROOT + 1]
    targets = relative[:, NON_ROOT_JOINTS].reshape(len(frames), -1).astype(np.float64)
    return inputs.mean(0), inputs.std(0), targets.mean(0), targets.std(0)


class Experiment:
    """The data side of a run: real training frames, virtual-camera frames, evaluation frames."""

    def __init__(self, config, out):
        data, augmentation = config['data'], config['augmentation']
        self.config = config
        root = data['root'] or DEFAULT_ROOT
        train_cameras, eval_cameras = protocol_cameras(data['protocol'])
        detections = data['inputs_2d'] == 'detections' or augmentation['detection_noise']
        with warnings.catch_warnings():
            warnings.simplefilter('always')
            self.sequences = load_h36m(root, data['train_subjects'], cameras=train_cameras,
                                       detections=detections)
            evaluation = load_h36m(root, data['eval_subjects'], cameras=eval_cameras,
                                   detections=data['inputs_2d'] == 'detections')
        self.real = lifting_frames(self.sequences, data['inputs_2d'], data['frame_step'])
        self.eval = lifting_frames(evaluation, data['inputs_2d'], config['train']['eval_frame_step'])
        self.noise_model = None
        self._frames_of_epoch = None, None  # (epoch, frames): each epoch's draw is made once
        if augmentation['virtual_cameras'] and augmentation['detection_noise']:
            self.noise_model = self._noise_model(out / 'detection_noise.npz')
        self.pair_accuracy = (load_pair_accuracy(data['pair_accuracy'])
                              if data['ranking'] == 'noisy' else None)

    def _noise_model(self, path):
        if path.is_file():
            return DetectionNoiseModel.load(path)
        residuals = detection_residuals(self.sequences)
        rng = np.random.default_rng(self.config['train']['seed'])
        count = min(len(residuals), self.config['augmentation']['noise_fit_frames'])
        model = fit_detection_noise(rng, residuals[rng.choice(len(residuals), count, replace=False)])
        model.save(path)
        return model

    def training_frames(self, epoch):
        """The real frames plus this epoch's virtual-camera frames."""
        count = self.config['augmentation']['virtual_cameras']
        if not count:
            return self.real
        if self._frames_of_epoch[0] != epoch:
            rng = np.random.default_rng([self.config['train']['seed'], epoch, 1])
            virtual = virtual_camera_frames(rng, self.sequences, count, self.noise_model,
                                            self.config['data']['frame_step'])
            self._frames_of_epoch = epoch, LiftingFrames.concatenate([self.real, virtual])
        return self._frames_of_epoch[1]


def train(config, out, device='auto', progress=True):
    """Run (or resume) an experiment in folder `out`; returns the final checkpoint dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    checkpoint_path = out / 'checkpoint.pt'
    settings = config['train']
    data = config['data']

    torch.manual_seed(settings['seed'])  # initial weights
    model = build_lifter(config['model']).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings['lr'])
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings['lr_decay'])
    experiment = Experiment(config, out)
    start_epoch, history = 0, []
    if checkpoint_path.is_file():
        previous = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if resumable(previous.get('config')) != resumable(config):
            raise ValueError(f'{checkpoint_path} was written by a different config (only '
                             f'train.epochs and data.root may change); use a new --out folder')
        model.load_state_dict(previous['state_dict'])
        optimizer.load_state_dict(previous['optimizer'])
        scheduler.load_state_dict(previous['scheduler'])
        start_epoch, history = previous['epoch'], previous['history']
        print(f'resuming {checkpoint_path} after epoch {start_epoch}', file=sys.stderr)
    else:
        model.set_normalization(*normalization(experiment.training_frames(0)))
        atomic_write(out / 'config.yaml', lambda file: file.write(yaml.safe_dump(config).encode()))

    checkpoint = None
    for epoch in range(start_epoch, settings['epochs']):
        rng = np.random.default_rng([settings['seed'], epoch])
        torch.manual_seed(settings['seed'] * 100003 + epoch)  # dropout
        frames = experiment.training_frames(epoch)
        order = rng.permutation(len(frames))[:settings['samples_per_epoch']]
        batches = range(0, len(order) - settings['batch_size'] + 1, settings['batch_size'])
        model.train()
        totals = {}
        bar = tqdm(batches, desc=f'epoch {epoch + 1}/{settings["epochs"]}', disable=not progress,
                   mininterval=1 if sys.stderr.isatty() else 30, dynamic_ncols=True)
        for start in bar:
            batch = training_batch(rng, frames, order[start:start + settings['batch_size']],
                                   data['ranking'], data['tie_mm'], experiment.pair_accuracy,
                                   config['augmentation']['mirror'])
            tensors = {name: None if value is None else torch.from_numpy(value).to(device)
                       for name, value in batch.items()}
            outputs = model(tensors['joints_2d'], tensors['ranking'])
            loss, terms = lifter_loss(outputs, model.standardize_targets(tensors['poses']),
                                      tensors['coarse_depth'], tensors['ranking_target'])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value
            bar.set_postfix(loss=f'{loss.item():.4f}', refresh=False)
        scheduler.step()
        record = {'epoch': epoch + 1, 'lr': optimizer.param_groups[0]['lr'],
                  **{f'loss_{name}': value / max(len(batches), 1) for name, value in totals.items()}}
        if (epoch + 1) % settings['eval_every'] == 0 or epoch + 1 == settings['epochs']:
            result = evaluate(model, experiment.eval, data['protocol'], data['ranking'],
                              data['tie_mm'], experiment.pair_accuracy, seed=settings['seed'])
            record['eval_mpjpe_mm'] = result['mpjpe_mm']
        history.append(record)
        print(json.dumps(record), file=sys.stderr)
        checkpoint = {
            'format': CHECKPOINT_FORMAT, 'model': config['model'], 'data': data, 'config': config,
            'state_dict': model.state_dict(), 'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict(), 'epoch': epoch + 1, 'history': history,
        }
        save_checkpoint(checkpoint_path, checkpoint)
        atomic_write(out / 'history.jsonl',
                     lambda file: file.write(''.join(json.dumps(r) + '\n' for r in history).encode()))
    return checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', required=True, help='experiment YAML file')
    parser.add_argument('--out', required=True, help='run folder (resumed when it has a checkpoint)')
    parser.add_argument('--data', help='Human3.6M folder, overriding data.root')
    parser.add_argument('--device', default='auto', help='auto (CUDA when present), cpu, cuda, ...')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)

    def command():
        config = load_config(args.config)
        if args.data:
            config['data']['root'] = args.data
        train(config, args.out, args.device, progress=not args.no_progress)
    return cli.run(command)


if __name__ == '__main__':
    sys.exit(main())
