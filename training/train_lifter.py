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
import sys
import warnings

import numpy as np
import torch

from pose3d_ros.models.lifter import CHECKPOINT_FORMAT, build_lifter
from pose3d_ros.skeleton import NON_ROOT_JOINTS, ROOT
from training import experiment
from training.augmentation import DetectionNoiseModel, fit_detection_noise
from training.datasets.h36m import DEFAULT_ROOT, TEST_SUBJECTS, TRAIN_SUBJECTS, load_h36m
from training.datasets.lifting import (DEFAULT_PAIR_ACCURACY, INPUTS_2D, RANKINGS, LiftingFrames, RankingNoise,
                                       add_front_end_noise, detection_residuals, front_end_noise_model,
                                       lifting_frames, training_batch, virtual_camera_frames)
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
        'depth_error_mm': 0.0,            # noisy: per-joint depth noise before the flips, mm or a .npy of 16
        'tie_mm': 20.0,                   # eq. 1 tie band
    },
    'augmentation': {
        'mirror': True,                   # random left-right mirroring
        'virtual_cameras': 0,             # virtual cameras per training pose, redrawn every epoch
        'detection_noise': False,         # GMM hourglass noise on the virtual cameras' 2D joints
        'front_end_noise': None,          # a torso-unit noise model file (pose3d_fit_front_end_noise):
                                          # added to every training and evaluation frame's 2D joints
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


def load_config(path, overrides=()):
    """YAML experiment file merged over DEFAULTS; unknown sections or keys are errors."""
    config = experiment.load_config(path, DEFAULTS, overrides)
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


def normalization(frames):
    """Mean and std of the lifter's inputs and root-relative targets over the training frames."""
    inputs = frames.joints_2d.reshape(len(frames), -1).astype(np.float64)
    relative = frames.poses_camera - frames.poses_camera[:, ROOT:ROOT + 1]
    targets = relative[:, NON_ROOT_JOINTS].reshape(len(frames), -1).astype(np.float64)
    return inputs.mean(0), inputs.std(0), targets.mean(0), targets.std(0)


class LifterData:
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
        self.ranking_noise = (RankingNoise.load(data['pair_accuracy'], data['depth_error_mm'])
                              if data['ranking'] == 'noisy' else None)
        self.front_end_noise = None
        if augmentation['front_end_noise']:
            self.front_end_noise = front_end_noise_model(augmentation['front_end_noise'])
            # The evaluation frames get one seeded draw, so every epoch is scored on the same inputs.
            rng = np.random.default_rng([config['train']['seed'], 2])
            self.eval.joints_2d = add_front_end_noise(rng, self.eval.joints_2d, self.front_end_noise)

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
    run = experiment.RunFolder(out)
    device = experiment.resolve_device(device)
    settings = config['train']
    data = config['data']

    torch.manual_seed(settings['seed'])  # initial weights
    model = build_lifter(config['model']).to(device)
    optimizer, scheduler = experiment.optimization(model, settings)
    frames_source = LifterData(config, run.out)
    previous = run.resume(config, device, DEFAULTS)
    if previous is None:
        model.set_normalization(*normalization(frames_source.training_frames(0)))
    start_epoch, history = experiment.restore(previous, model, optimizer, scheduler)

    checkpoint = None
    for epoch in range(start_epoch, settings['epochs']):
        rng = np.random.default_rng([settings['seed'], epoch])
        torch.manual_seed(settings['seed'] * 100003 + epoch)  # dropout
        frames = frames_source.training_frames(epoch)
        order = rng.permutation(len(frames))[:settings['samples_per_epoch']]
        batches = range(0, len(order) - settings['batch_size'] + 1, settings['batch_size'])
        model.train()
        totals = {}
        bar = experiment.progress(batches, f'epoch {epoch + 1}/{settings["epochs"]}', progress)
        for start in bar:
            batch = training_batch(rng, frames, order[start:start + settings['batch_size']],
                                   data['ranking'], data['tie_mm'], frames_source.ranking_noise,
                                   config['augmentation']['mirror'], frames_source.front_end_noise)
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
        if experiment.evaluates_after(epoch, settings):
            result = evaluate(model, frames_source.eval, data['protocol'], data['ranking'],
                              data['tie_mm'], frames_source.ranking_noise, seed=settings['seed'])
            record['eval_mpjpe_mm'] = result['mpjpe_mm']
        history.append(record)
        checkpoint = run.save_epoch({'format': CHECKPOINT_FORMAT, 'model': config['model'], 'data': data},
                                    config, model, optimizer, scheduler, history)
    return checkpoint


def main(argv=None):
    return experiment.training_command(argv, __doc__, load_config, train)


if __name__ == '__main__':
    sys.exit(main())
