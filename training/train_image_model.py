"""Train the stacked hourglass or PRCNN on synthetic renders of Human3.6M poses, the hourglass
also on crops of annotated real photos (LSP Extended).

    pose3d_train_image_model --config training/configs/image/hourglass_small.yaml --out runs/hourglass
    pose3d_train_image_model --config training/configs/image/hourglass_lspet.yaml --out runs/hourglass_lspet
    pose3d_train_image_model --config training/configs/image/prcnn_small.yaml --out runs/prcnn
    pose3d_train_image_model --config training/configs/image/prcnn_lspet.yaml --out runs/image/prcnn_lspet

The config's model.type picks the network. The hourglass regresses Gaussian heatmaps with a mean
squared error on every stack (intermediate supervision), optionally weighting the pixels under
the peaks (train.foreground_weight). PRCNN reads the image and heatmaps, either
the ground truth with noise (data.heatmaps: ground_truth) or those of a trained hourglass
(data.heatmaps: hourglass, data.hourglass: its checkpoint), and is trained with binary
cross-entropy on sigmoid(F_i - F_j) against the ranking (ties 0.5). Renders come from the
training subjects; periodic evaluation uses held-out renders of data.eval_subjects. With
data.photo_share above 0, that share of the hourglass's training items are augmented person crops
of the LSP Extended training split (training/datasets/photo_crops.py; unannotated joints weigh 0
in the loss, or data.teacher_weight where the BlazePose teacher's landmark cache, data.teacher,
places them; data.photo_whole_photo of them frame the whole photo, as the drpose3d front end does
before it has found anyone), and periodic evaluation adds PCK@0.2 on data.photo_eval_count fixed
photos of its validation split, person's box and whole photo (eval_lsp_pck, eval_lsp_whole_photo_pck
in history.jsonl). For PRCNN, data.photo_share of the items are such crops too, their heatmap
input drawn at the annotated and teacher joints with the renders' noise (annotated joints count
as visible, teacher-only ones as hidden, joints of neither get empty maps), their ranking targets
from the teacher's per-joint depths (data.teacher must then be a landmark cache with world
landmarks: pose3d_fit_joint_regressor --world; photo_crops.teacher_depths), pairs the teacher
cannot rank weighing 0; periodic evaluation adds the pairwise accuracy against the teacher on
data.photo_eval_count fixed validation photos (eval_lsp_ranking_accuracy). train.init starts the
network from a checkpoint's weights (fine-tuning; a resumed run ignores it). Run folders,
checkpoints, resume and seeds follow the lifter's rules (training/experiment.py).

--precision bf16 runs the training forward passes under bfloat16 autocast (weights, gradients,
losses and the periodic evaluation stay float32): ~2x faster on a CPU with AMX (4th-generation
Xeon), slower on one without. Like --device it is how a run computes, not what it trains, so a
run may switch between epochs; each history record notes it.
"""
import sys

import numpy as np
import torch
from torch.nn import functional

from pose3d_ros.heatmaps import crop_to_heatmap, gaussian_heatmaps
from pose3d_ros.models import hourglass as hourglass_model
from pose3d_ros.models import prcnn as prcnn_model
from pose3d_ros.heatmaps import HEATMAP_STRIDE
from pose3d_ros.models.hourglass import build_hourglass, load_hourglass
from pose3d_ros.models.prcnn import build_prcnn, load_prcnn, pair_logits
from training import experiment
from training.datasets.h36m import DEFAULT_ROOT, TEST_SUBJECTS, TRAIN_SUBJECTS
from training.datasets.keypoints import load_lsp
from training.datasets.photo_crops import (Augmentation, Mixture, PhotoCrops, lsp_validation_crops,
                                           lsp_validation_photos, sided_by_teacher_cache, teacher_arguments)
from training.datasets.renders import RenderedPoses, load_poses
from training.evaluate_image_models import evaluate_hourglass, evaluate_photo_crops, evaluate_prcnn

NETWORKS = {'hourglass': (build_hourglass, hourglass_model.CHECKPOINT_FORMAT, load_hourglass),
            'prcnn': (build_prcnn, prcnn_model.CHECKPOINT_FORMAT, load_prcnn)}
HEATMAP_SOURCES = ('ground_truth', 'hourglass')
DEFAULT_PHOTOS = DEFAULT_ROOT.parent / 'lspet' / 'joints.mat'

DEFAULTS = {
    'model': {'type': 'hourglass'},
    'data': {
        'root': None,                         # None: ../shared/data/h36m beside the checkout
        'train_subjects': list(TRAIN_SUBJECTS),
        'eval_subjects': [TEST_SUBJECTS[0]],
        'frame_step': 1,                      # subsample the 10 fps poses
        'input_size': 128,                    # crop side, pixels
        'camera_distance_mm': [4000.0, 1200.0],  # virtual camera distance: mean, std
        'heatmap_sigma': 1.0,                 # heatmap pixels
        'tie_mm': 20.0,
        'heatmaps': 'ground_truth',           # PRCNN input: 'ground_truth' (+ noise) or 'hourglass'
        'hourglass': None,                    # hourglass checkpoint for heatmaps: hourglass
        'heatmap_noise_px': 1.5,              # ground-truth heatmaps: joint jitter, heatmap pixels
        'eval_count': 1000,                   # held-out renders
        'workers': 1,                         # rendering processes
        # Real photos: LSP-format joints.mat, images/ beside it; its training split is trained
        # on, its validation split evaluated. None: ../shared/data/lspet.
        'photos': None,
        'photo_share': 0.0,                   # share of training items that are photo crops
        'photo_eval_count': 800,              # fixed validation crops (evenly spaced) for PCK@0.2
        'photo_scale': [0.75, 1.25],          # augmentation: crop side x this
        'photo_rotation_deg': 30.0,           # +- this
        'photo_shift': 0.1,                   # crop centre +- this x the side
        'photo_flip': 0.5,                    # probability of a mirrored crop (left/right swapped)
        'photo_colour': 0.3,                  # brightness, contrast, saturation x 1 +- this
        'photo_whole_photo': 0.0,             # probability of framing the whole photo, not the person
        # The BlazePose teacher for joints the photos do not annotate: pose3d_fit_joint_regressor's
        # landmark cache of the training split (.npz), a list of them (their mean landmarks: an
        # ensemble teacher), or None for annotated joints only. PRCNN on photos needs ones with
        # world landmarks of both splits (--world): its depths rank.
        'teacher': None,
        'teacher_weight': 0.5,                # the loss weight of a teacher's joint (annotated: 1)
        # Exchange a training photo's left and right labels where the teacher fits them better
        # exchanged (photo_crops.sided_by_teacher); the validation labels stay as given.
        'teacher_sides': False,
    },
    'train': {
        'epochs': 10,
        'samples_per_epoch': 20000,
        'batch_size': 32,
        'lr': 1.0e-3,
        'lr_decay': 0.9,                      # exponential, per epoch
        'weight_decay': 0.0,
        'foreground_weight': 0.0,             # hourglass: heatmap pixels weigh 1 + this x target
        'seed': 0,
        'eval_every': 1,
        'init': None,                         # a checkpoint of the same network to start from
    },
}


def load_config(path, overrides=()):
    config = experiment.load_config(path, DEFAULTS, overrides)
    kind, data = config['model'].get('type'), config['data']
    if kind not in NETWORKS:
        raise ValueError(f'{path}: model.type must be one of {sorted(NETWORKS)}, got {kind!r}')
    NETWORKS[kind][0](config['model'])
    if data['heatmaps'] not in HEATMAP_SOURCES:
        raise ValueError(f'{path}: data.heatmaps must be one of {HEATMAP_SOURCES}, got {data["heatmaps"]!r}')
    if kind == 'prcnn' and data['heatmaps'] == 'hourglass' and not data['hourglass']:
        raise ValueError(f'{path}: data.heatmaps is hourglass but data.hourglass names no checkpoint')
    if not 0 <= data['photo_share'] <= 1:
        raise ValueError(f'{path}: data.photo_share must lie in [0, 1], got {data["photo_share"]!r}')
    teacher = data['teacher']
    if not (teacher is None or isinstance(teacher, str)
            or (isinstance(teacher, list) and teacher and all(isinstance(path, str) for path in teacher))):
        raise ValueError(f'{path}: data.teacher must be a landmark cache file, a list of them or null, got {teacher!r}')
    if kind == 'prcnn' and data['photo_share'] > 0 and not data['teacher']:
        raise ValueError(f'{path}: data.photo_share is {data["photo_share"]}, but data.teacher names no landmark '
                         f'cache: PRCNN\'s photo rankings come from the teacher\'s depths')
    try:
        photo_augmentation(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{path}: data.photo_*: {error}') from None
    if not 0 <= data['teacher_weight'] <= 1:
        raise ValueError(f'{path}: data.teacher_weight must lie in [0, 1], got {data["teacher_weight"]!r}')
    if data['teacher_sides'] and not data['teacher']:
        raise ValueError(f'{path}: data.teacher_sides is true, but data.teacher names no landmark cache to side by')
    return config


def photo_augmentation(data):
    """The photo crops' Augmentation from the data.photo_* keys."""
    return Augmentation(scale=tuple(data['photo_scale']), rotation_deg=data['photo_rotation_deg'],
                        shift=data['photo_shift'], flip=data['photo_flip'], colour=data['photo_colour'],
                        whole_photo=data['photo_whole_photo'])


def noisy_heatmaps(rng, joints_2d, visible, size, sigma, jitter_px, present=None):
    """Ground-truth heatmaps as a hourglass would give them: jittered peaks, random heights,
    weaker on hidden joints, none where `present` (B, J) is False. joints_2d (B, J, 2) crop pixels
    -> (B, J, size, size)."""
    points = crop_to_heatmap(joints_2d, HEATMAP_STRIDE) + rng.normal(0, jitter_px, joints_2d.shape)
    heights = rng.uniform(0.5, 1.0, visible.shape) * np.where(visible, 1.0, 0.6)
    return (gaussian_heatmaps(points, size, sigma, present) * heights[..., None, None]).astype(np.float32)


class Networks:
    """The network being trained, and for PRCNN the source of its heatmap input."""

    def __init__(self, config, device, precision='fp32'):
        self.kind = config['model']['type']
        self.config = config
        self.device = torch.device(device)
        self.bf16 = precision == 'bf16'
        # channels_last: oneDNN's convolutions run ~1.5x faster on CPU in this layout
        self.model = NETWORKS[self.kind][0](config['model']).to(device, memory_format=torch.channels_last)
        self.hourglass = None
        if self.kind == 'prcnn' and config['data']['heatmaps'] == 'hourglass':
            self.hourglass, _ = load_hourglass(config['data']['hourglass'], device)

    def start_from(self, path):
        """The weights of checkpoint `path` (the same network and input size), for fine-tuning."""
        model, checkpoint = NETWORKS[self.kind][2](path, self.device)
        if checkpoint['model'] != self.config['model'] or checkpoint['input_size'] != self.config['data']['input_size']:
            raise ValueError(f'{path}: train.init is a {checkpoint["model"]} network on {checkpoint["input_size"]} px '
                             f'crops; this config trains {self.config["model"]} on {self.config["data"]["input_size"]} px')
        self.model.load_state_dict(model.state_dict())

    def heatmaps_for_prcnn(self, rng, batch, images):
        data = self.config['data']
        if self.hourglass is not None:
            with torch.no_grad():
                return self.hourglass(images)[-1]
        maps = noisy_heatmaps(rng, batch['joints_2d'].numpy(), batch['visible'].numpy(),
                              data['input_size'] // HEATMAP_STRIDE, data['heatmap_sigma'], data['heatmap_noise_px'],
                              present=batch['joint_weights'].numpy() > 0)
        return torch.from_numpy(maps).to(self.device)

    def forward_precision(self):
        """The training forward passes' arithmetic: bfloat16 autocast with --precision bf16."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def loss(self, rng, batch):
        """The batch's loss, in float32 whatever the forward precision."""
        images = (batch['image'].to(self.device).float() / 255).contiguous(memory_format=torch.channels_last)
        if self.kind == 'hourglass':
            with self.forward_precision():
                stacks = self.model(images)
            target, weights = batch['heatmaps'].to(self.device), batch['joint_weights'].to(self.device)
            return sum(heatmap_loss(stack.float(), target, self.config['train']['foreground_weight'], weights)
                       for stack in stacks)
        with self.forward_precision():
            scores = self.model(images, self.heatmaps_for_prcnn(rng, batch, images))
        return ranking_loss(scores.float(), batch['ranking'].to(self.device), batch['pair_weights'].to(self.device))

    def evaluate(self, dataset):
        """The held-out set's scalar metrics, {name: value}."""
        if isinstance(dataset, PhotoCrops) and self.kind == 'hourglass':
            return evaluate_photo_crops(self.model, dataset, self.device)
        if self.kind == 'hourglass':
            return evaluate_hourglass(self.model, dataset, self.device)
        return evaluate_prcnn(self.model, dataset, self.device, self.hourglass)


def heatmap_loss(predicted, target, foreground_weight=0.0, joint_weights=None):
    """Mean squared error over heatmap pixels, each weighted by 1 + foreground_weight x target
    and by its joint's weight in joint_weights (B, J) (0: the joint is not annotated).

    With weight 0 it is Newell et al.'s plain MSE. Near-zero background pixels outnumber the
    Gaussian peaks ~100 to 1, so plain MSE first settles on all-zero maps; weighting the peaks
    shortens that phase."""
    squared = (1 + foreground_weight * target) * (predicted - target) ** 2
    if joint_weights is not None:
        squared = squared * joint_weights[:, :, None, None]
    return squared.mean()


def ranking_loss(scores, ranking, pair_weights=None):
    """Binary cross-entropy of sigmoid(F_i - F_j) against M (ties 0.5), off the diagonal, the
    weighted mean with pair_weights (B, J, J) (0: the pair's order is unknown)."""
    off_diagonal = ~torch.eye(ranking.shape[-1], dtype=torch.bool, device=ranking.device)
    logits = pair_logits(scores)
    if pair_weights is None:
        pair_weights = torch.ones_like(ranking)
    weights = pair_weights[:, off_diagonal]
    losses = functional.binary_cross_entropy_with_logits(logits[:, off_diagonal], ranking[:, off_diagonal],
                                                         reduction='none')
    return (losses * weights).sum() / weights.sum().clamp(min=1.0)


def datasets(config):
    """-> (training set, {name: held-out set}): renders, photo crops or a mixture, by data.photo_share;
    the held-out sets' metrics go into the history as eval_<name><metric>."""
    data, settings = config['data'], config['train']
    share, count, seed = data['photo_share'], settings['samples_per_epoch'], settings['seed']
    train, held_out = [], {}
    if share < 1:
        root = data['root'] or DEFAULT_ROOT
        common = dict(size=data['input_size'], camera_distance_mm=tuple(data['camera_distance_mm']),
                      heatmap_sigma=data['heatmap_sigma'], tie_mm=data['tie_mm'])
        train.append(RenderedPoses(load_poses(root, data['train_subjects'], data['frame_step']), count,
                                   seed=seed, **common))
        held_out[''] = RenderedPoses(load_poses(root, data['eval_subjects'], data['frame_step']),
                                     data['eval_count'], seed=seed + 1, **common)
    if share > 0:
        photos = data['photos'] or DEFAULT_PHOTOS
        images = load_lsp(photos, split='train')
        if data['teacher_sides']:
            images, exchanged = sided_by_teacher_cache(images, data['teacher'])
            print(f'{exchanged} of {len(images)} training photos: left and right labels exchanged to the teacher\'s',
                  file=sys.stderr)
        common = dict(heatmap_sigma=data['heatmap_sigma'], teacher_weight=data['teacher_weight'], tie_mm=data['tie_mm'])
        train.append(PhotoCrops(images, data['input_size'], count, photo_augmentation(data), seed=seed + 2,
                                **teacher(config, images), **common))
        if config['model']['type'] == 'prcnn':  # the person's box: what the drpose3d front end gives PRCNN
            validation = lsp_validation_photos(photos, data['photo_eval_count'])
            held_out['lsp_'] = PhotoCrops(validation, data['input_size'], **teacher(config, validation), **common)
        else:
            for name, crops in lsp_validation_crops(photos, data['input_size'], data['photo_eval_count'],
                                                    data['heatmap_sigma']).items():
                held_out[name + '_'] = crops
    if len(train) == 2:
        keys = Mixture.PRCNN_KEYS if config['model']['type'] == 'prcnn' else Mixture.KEYS
        return Mixture(*train, share, count, seed=seed, keys=keys), held_out
    return train[0], held_out


def teacher(config, images):
    """PhotoCrops' teacher arguments for `images` from data.teacher's landmark cache or caches (for
    PRCNN with its depths); none without data.teacher."""
    return teacher_arguments(config['data']['teacher'], images, depths=config['model']['type'] == 'prcnn')


def train(config, out, device='auto', progress=True, precision='fp32'):
    """Run (or resume) an experiment in folder `out`; returns the final checkpoint dict."""
    run = experiment.RunFolder(out)
    device = experiment.resolve_device(device)
    settings, data = config['train'], config['data']
    torch.manual_seed(settings['seed'])  # initial weights
    networks = Networks(config, device, precision)
    model = networks.model
    optimizer, scheduler = experiment.optimization(model, settings)
    train_set, held_out = datasets(config)
    previous = run.resume(config, device, DEFAULTS)
    if previous is None and settings['init']:
        networks.start_from(settings['init'])
    start_epoch, history = experiment.restore(previous, model, optimizer, scheduler)

    checkpoint = None
    for epoch in range(start_epoch, settings['epochs']):
        rng = np.random.default_rng([settings['seed'], epoch])
        torch.manual_seed(settings['seed'] * 100003 + epoch)
        train_set.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            train_set, batch_size=settings['batch_size'], shuffle=False, drop_last=True,
            num_workers=data['workers'], persistent_workers=False)
        model.train()
        total, batches = 0.0, 0
        bar = experiment.progress(loader, f'epoch {epoch + 1}/{settings["epochs"]}', progress)
        for batch in bar:
            loss = networks.loss(rng, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
            bar.set_postfix(loss=f'{loss.item():.5f}', refresh=False)
        scheduler.step()
        record = {'epoch': epoch + 1, 'lr': optimizer.param_groups[0]['lr'], 'loss': total / max(batches, 1),
                  'precision': precision, **({'teacher_sides': True} if data['teacher_sides'] else {})}
        if experiment.evaluates_after(epoch, settings):
            for prefix, held_out_set in held_out.items():
                record.update({f'eval_{prefix}{name}': value for name, value in networks.evaluate(held_out_set).items()
                               if np.isscalar(value)})
        history.append(record)
        checkpoint = run.save_epoch({'format': NETWORKS[networks.kind][1], 'model': config['model'],
                                     'input_size': data['input_size']}, config, model, optimizer, scheduler, history)
    return checkpoint


def main(argv=None):
    return experiment.training_command(argv, __doc__, load_config, train, precisions=('fp32', 'bf16'))


if __name__ == '__main__':
    sys.exit(main())
