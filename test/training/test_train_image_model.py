import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from pose3d_ros.models.hourglass import load_hourglass
from pose3d_ros.models.prcnn import load_prcnn
from pose3d_ros.skeleton import LSP_TO_DETECTED
from training import train_image_model
from training.datasets import photo_crops
from training.datasets.keypoints import load_lsp
from training.fit_joint_regressor import WORLD_FIELDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402
from photo_samples import photo  # noqa: E402

needs_lspet = pytest.mark.skipif(not train_image_model.DEFAULT_PHOTOS.is_file(),
                                 reason=f'LSP Extended not found at {train_image_model.DEFAULT_PHOTOS}')

# A few hundred 64 x 64 renders of S1 poses and tiny networks: seconds on 2 cores.
DATA = {'root': str(H36M_ROOT), 'train_subjects': [1], 'frame_step': 20, 'input_size': 64,
        'eval_count': 48, 'workers': 0}
TINY_HOURGLASS = {'model': {'type': 'hourglass', 'stacks': 2, 'channels': 16, 'depth': 2}, 'data': DATA,
                  'train': {'epochs': 3, 'samples_per_epoch': 96, 'batch_size': 16, 'lr': 2e-3}}
TINY_PRCNN = {'model': {'type': 'prcnn', 'depth': 18, 'width': 8}, 'data': DATA,
              'train': {'epochs': 3, 'samples_per_epoch': 160, 'batch_size': 16, 'lr': 2e-3}}


def config_file(tmp_path, config, name='config.yaml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


@needs_h36m
@needs_h36m
@needs_lspet
def test_hourglass_learns_from_photos_and_renders_and_resumes_after_a_crash(tmp_path, monkeypatch):
    """Renders and photos mixed; a run that crashes resumes bit-identically (one test for both: each
    tiny run costs seconds)."""
    mixed = dict(TINY_HOURGLASS, data=dict(DATA, photo_share=0.5, photo_whole_photo=0.3, photo_eval_count=32,
                                           eval_count=16))
    config = train_image_model.load_config(config_file(tmp_path, mixed))
    straight = train_image_model.train(config, tmp_path / 'straight', device='cpu', progress=False)
    losses = [record['loss'] for record in straight['history']]
    assert losses[-1] < 0.7 * losses[0]
    last = straight['history'][-1]
    assert 0 <= last['eval_lsp_pck'] <= 1 and last['eval_lsp_people'] == 32 and 0 <= last['eval_pckh'] <= 1
    assert 0 <= last['eval_lsp_whole_photo_pck'] <= 1 and last['eval_lsp_whole_photo_people'] == 32

    # A crash in the middle of the second epoch (as kill -9 would) loses only that epoch.
    steps, loss = [], train_image_model.heatmap_loss

    def crashing_loss(*args):
        steps.append(1)
        if len(steps) == 2 * 9:  # 6 batches an epoch x 2 stacks: the third batch of epoch 2
            raise KeyboardInterrupt
        return loss(*args)

    monkeypatch.setattr(train_image_model, 'heatmap_loss', crashing_loss)
    with pytest.raises(KeyboardInterrupt):
        train_image_model.train(config, tmp_path / 'crashed', device='cpu', progress=False)
    assert torch.load(tmp_path / 'crashed' / 'checkpoint.pt', weights_only=True)['epoch'] == 1
    monkeypatch.setattr(train_image_model, 'heatmap_loss', loss)
    resumed = train_image_model.train(config, tmp_path / 'crashed', device='cpu', progress=False)
    assert all(torch.equal(resumed['state_dict'][name], straight['state_dict'][name])
               for name in straight['state_dict'])
    assert resumed['history'] == straight['history']
    model, checkpoint = load_hourglass(tmp_path / 'crashed' / 'checkpoint.pt')
    assert checkpoint['input_size'] == 64 and len(model(torch.rand(1, 3, 64, 64))) == 2
    assert len((tmp_path / 'crashed' / 'history.jsonl').read_text().splitlines()) == len(straight['history'])


def test_bf16_autocast_gives_a_float32_loss_near_the_float32_one(tmp_path):
    config = train_image_model.load_config(config_file(tmp_path, TINY_HOURGLASS))
    generator = torch.Generator().manual_seed(0)
    batch = {'image': torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=generator),
             'heatmaps': torch.rand(4, 16, 16, 16, generator=generator), 'joint_weights': torch.ones(4, 16)}
    losses = {}
    for precision in ('fp32', 'bf16'):
        torch.manual_seed(0)
        networks = train_image_model.Networks(config, 'cpu', precision)
        loss = networks.loss(None, batch)
        loss.backward()
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert all(parameter.grad.dtype == torch.float32 for parameter in networks.model.parameters())
        losses[precision] = loss.item()
    assert losses['bf16'] == pytest.approx(losses['fp32'], rel=0.02)
    with pytest.raises(SystemExit):
        train_image_model.main(['--config', 'c.yaml', '--out', 'o', '--precision', 'fp16'])


def world_teacher(tmp_path, monkeypatch):
    """A world landmark cache of every LSP Extended photo whose teacher is the annotation itself (an
    identity regressor; unannotated joints unknown), each joint as deep in mm as it is low in pixels."""
    images = load_lsp(train_image_model.DEFAULT_PHOTOS)
    joints = np.stack([image.people[0].joints for image in images])
    landmarks = np.zeros((len(images), 33, len(WORLD_FIELDS)))
    landmarks[:, :14, :2] = joints
    landmarks[:, :14, WORLD_FIELDS.index('world_z')] = joints[..., 1] / 1000
    path = tmp_path / 'world.npz'
    np.savez(path, names=np.array([image.path.name for image in images]), landmarks=landmarks,
             done=np.ones(len(images), bool))
    identity = SimpleNamespace(lsp_weights=np.eye(14, 33), matrix=LSP_TO_DETECTED @ np.eye(14, 33))
    monkeypatch.setattr(photo_crops, 'JointRegressor', lambda: identity)
    return path


@needs_h36m
@needs_lspet
def test_prcnn_learns_from_photos_ranked_by_the_teacher_and_renders_and_resumes(tmp_path, monkeypatch):
    """Renders (noisy ground-truth heatmaps) and photos mixed; a crashed run resumes bit-identically;
    train.init fine-tunes (one test: each tiny run costs seconds)."""
    mixed = dict(TINY_PRCNN, data=dict(DATA, photo_share=0.5, photo_eval_count=16, eval_count=8,
                                       teacher=str(world_teacher(tmp_path, monkeypatch))),
                 train=dict(TINY_PRCNN['train'], epochs=2, samples_per_epoch=96))
    config = train_image_model.load_config(config_file(tmp_path, mixed))
    straight = train_image_model.train(config, tmp_path / 'straight', device='cpu', progress=False)
    losses = [record['loss'] for record in straight['history']]
    assert losses[-1] < losses[0]
    last = straight['history'][-1]
    # against the teacher on fixed validation photos; pairs with an unannotated joint are not ranked
    assert 0 <= last['eval_lsp_ranking_accuracy'] <= 1 and last['eval_lsp_count'] == 16
    assert 0 < last['eval_lsp_pairs'] < 16 * 16 * 15
    assert 0 <= last['eval_ranking_accuracy'] <= 1 and last['eval_count'] == 8

    steps, loss = [], train_image_model.ranking_loss

    def crashing_loss(*args):
        steps.append(1)
        if len(steps) == 6 + 3:  # 6 batches an epoch: the fourth batch of epoch 2
            raise KeyboardInterrupt
        return loss(*args)
    monkeypatch.setattr(train_image_model, 'ranking_loss', crashing_loss)
    with pytest.raises(KeyboardInterrupt):
        train_image_model.train(config, tmp_path / 'crashed', device='cpu', progress=False)
    monkeypatch.setattr(train_image_model, 'ranking_loss', loss)
    resumed = train_image_model.train(config, tmp_path / 'crashed', device='cpu', progress=False)
    assert all(torch.equal(resumed['state_dict'][name], straight['state_dict'][name]) for name in straight['state_dict'])
    assert resumed['history'] == straight['history']

    # fine-tuning: train.init starts from a checkpoint's weights
    init = tmp_path / 'straight' / 'checkpoint.pt'
    networks = train_image_model.Networks(config, 'cpu')
    networks.start_from(init)
    assert all(torch.equal(value, straight['state_dict'][name]) for name, value in networks.model.state_dict().items())
    wider = dict(mixed, model=dict(TINY_PRCNN['model'], width=16))
    with pytest.raises(ValueError, match=r"checkpoint\.pt: train\.init is a \{'type': 'prcnn', 'depth': 18, 'width': 8\}"):
        train_image_model.Networks(train_image_model.load_config(config_file(tmp_path, wider, 'wider.yaml')),
                                   'cpu').start_from(init)


def test_the_teacher_comes_from_a_landmark_cache_of_every_training_photo(tmp_path):
    images = [photo(tmp_path, name=f'{k}.png') for k in range(2)]
    cache = tmp_path / 'landmarks.npz'
    np.savez(cache, names=np.array(['0.png', '1.png']), landmarks=np.full((2, 33, 2), np.nan),
             done=np.array([True, True]))
    def config(path, kind='hourglass'):
        return {'model': {'type': kind}, 'data': {'teacher': path}}
    assert train_image_model.teacher(config(None), images) == {}
    joints = train_image_model.teacher(config(str(cache)), images)['teacher']
    assert joints.shape == (2, 14, 2) and np.isnan(joints).all()  # nobody found: no teacher
    with pytest.raises(ValueError, match=r'landmarks\.npz: stores 2 values per landmark, not the 6 of .*--world'):
        train_image_model.teacher(config(str(cache), 'prcnn'), images)  # PRCNN needs the world landmarks
    np.savez(cache, names=np.array(['0.png']), landmarks=np.zeros((1, 33, 2)), done=np.array([True]))
    with pytest.raises(ValueError, match=r'landmarks\.npz: no landmarks for 1 of the 2 photos \(e\.g\. 1\.png\)'):
        train_image_model.teacher(config(str(cache)), images)
    with pytest.raises(ValueError, match=r'missing\.npz: not a landmark cache'):
        train_image_model.teacher(config(str(tmp_path / 'missing.npz')), images)


def test_joint_weights_leave_unannotated_joints_out_of_the_loss():
    target, predicted = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    weights = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    assert train_image_model.heatmap_loss(predicted, target, 0.0, weights) == pytest.approx(5 / 6)
    assert train_image_model.heatmap_loss(predicted, target) == pytest.approx(1.0)


@needs_h36m
def test_prcnn_trains_on_hourglass_heatmaps(tmp_path):
    """(On noisy ground-truth heatmaps: the mixed photo + render run above.)"""
    hourglass = train_image_model.load_config(config_file(tmp_path, dict(TINY_HOURGLASS, train=dict(
        TINY_HOURGLASS['train'], epochs=1)), 'hourglass.yaml'))
    train_image_model.train(hourglass, tmp_path / 'hourglass', device='cpu', progress=False)
    chained = dict(TINY_PRCNN, data=dict(DATA, heatmaps='hourglass', hourglass=str(tmp_path / 'hourglass' / 'checkpoint.pt')),
                   train=dict(TINY_PRCNN['train'], epochs=1))
    config = train_image_model.load_config(config_file(tmp_path, chained, 'chained.yaml'))
    train_image_model.train(config, tmp_path / 'chained', device='cpu', progress=False)
    model, checkpoint = load_prcnn(tmp_path / 'chained' / 'checkpoint.pt')
    assert checkpoint['config']['data']['heatmaps'] == 'hourglass'


def test_config_errors_name_the_file_and_the_value(tmp_path):
    with pytest.raises(ValueError, match=r"bad\.yaml: model\.type must be one of \['hourglass', 'prcnn'\], got 'vit'"):
        train_image_model.load_config(config_file(tmp_path, {'model': {'type': 'vit'}}, 'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: data\.heatmaps is hourglass but data\.hourglass names no checkpoint"):
        train_image_model.load_config(config_file(tmp_path, {'model': {'type': 'prcnn'}, 'data': {'heatmaps': 'hourglass'}},
                                                  'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: data\.photo_share is 0\.5, but data\.teacher names no landmark cache"):
        train_image_model.load_config(config_file(tmp_path, {'model': {'type': 'prcnn'}, 'data': {'photo_share': 0.5}},
                                                  'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: data\.photo_share must lie in \[0, 1\], got 2"):
        train_image_model.load_config(config_file(tmp_path, {'data': {'photo_share': 2}}, 'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: data\.photo_\*: augmentation scale must be 0 < low <= high, got \(1\.5, 1\.0\)"):
        train_image_model.load_config(config_file(tmp_path, {'data': {'photo_scale': [1.5, 1.0]}}, 'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: data\.teacher_weight must lie in \[0, 1\], got -1"):
        train_image_model.load_config(config_file(tmp_path, {'data': {'teacher_weight': -1}}, 'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: data\.teacher must be a landmark cache file, a list of them or null, got \[\]"):
        train_image_model.load_config(config_file(tmp_path, {'data': {'teacher': []}}, 'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: data\.teacher_sides is true, but data\.teacher names no landmark cache"):
        train_image_model.load_config(config_file(tmp_path, {'data': {'teacher_sides': True}}, 'bad.yaml'))
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown key\(s\) \['size'\] in 'data'"):
        train_image_model.load_config(config_file(tmp_path, {'data': {'size': 64}}, 'bad.yaml'))
    assert train_image_model.main(['--config', str(tmp_path / 'missing.yaml'), '--out', str(tmp_path / 'run')]) == 2


def test_shipped_configs_load():
    configs = sorted((Path(train_image_model.__file__).parent / 'configs' / 'image').glob('*.yaml'))
    assert len(configs) >= 5
    for path in configs:
        train_image_model.load_config(path)
