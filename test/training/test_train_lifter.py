import json
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pose3d_ros.models.lifter import load_lifter
from pose3d_ros.skeleton import ROOT, torso_lengths
from training import evaluate_lifter, train_lifter
from training.datasets.h36m import load_h36m
from training.augmentation import DetectionNoiseModel
from training.datasets.lifting import front_end_noise_model, lifting_frames, training_batch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402

NOISE = Path(__file__).resolve().parents[2] / 'training' / 'noise'
# A few hundred training frames (S1, every 80th), a small network: seconds on 2 cores.
TINY = {
    'model': {'type': 'dpnet', 'width': 64, 'dropout': 0.1},
    'data': {'root': str(H36M_ROOT), 'train_subjects': [1], 'frame_step': 80,
             'ranking': 'ground_truth'},
    'train': {'epochs': 6, 'batch_size': 16, 'lr': 3e-3, 'eval_frame_step': 40},
}


def write_config(tmp_path, config, name='config.yaml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_config_errors_name_the_file_and_the_key(tmp_path):
    path = write_config(tmp_path, {'train': {'epoch': 3}})
    with pytest.raises(ValueError, match=r"config\.yaml: unknown key\(s\) \['epoch'\] in 'train'"):
        train_lifter.load_config(path)
    path = write_config(tmp_path, {'optimizer': {'lr': 1}})
    with pytest.raises(ValueError, match=r"config\.yaml: unknown or malformed section 'optimizer'"):
        train_lifter.load_config(path)
    path = write_config(tmp_path, {'model': {'type': 'baseline'}, 'data': {'ranking': 'noisy'}})
    with pytest.raises(ValueError, match=r"model 'baseline' and data.ranking 'noisy' do not go together"):
        train_lifter.load_config(path)
    path = write_config(tmp_path, {'data': {'inputs_2d': 'openpose'}})
    with pytest.raises(ValueError, match=r"data.inputs_2d must be one of .*'openpose'"):
        train_lifter.load_config(path)
    assert train_lifter.main(['--config', str(tmp_path / 'nope.yaml'), '--out', str(tmp_path)]) == 2


def test_set_overrides_config_values_as_yaml_and_names_a_bad_one(tmp_path):
    path = write_config(tmp_path, {'train': {'epochs': 40, 'lr_decay': 0.93}})
    config = train_lifter.load_config(path, ['train.epochs=10', 'train.lr_decay=0.8', 'model.width=256'])
    assert (config['train']['epochs'], config['train']['lr_decay'], config['model']['width']) == (10, 0.8, 256)
    with pytest.raises(ValueError, match=r"--set train\.epoch=10: unknown key\(s\) \['epoch'\] in 'train'"):
        train_lifter.load_config(path, ['train.epoch=10'])
    with pytest.raises(ValueError, match=r"--set optimizer\.lr=1: unknown section 'optimizer'"):
        train_lifter.load_config(path, ['optimizer.lr=1'])
    with pytest.raises(ValueError, match=r"--set epochs: expected section\.key=value"):
        train_lifter.load_config(path, ['epochs'])
    with pytest.raises(ValueError, match=r"data\.ranking must be one of .*'sometimes'"):
        train_lifter.load_config(path, ['data.ranking=sometimes'])
    assert train_lifter.main(['--config', str(path), '--out', str(tmp_path / 'run'), '--set', 'train.epochs']) == 2


def test_every_shipped_experiment_config_loads():
    configs = sorted((Path(train_lifter.__file__).parent / 'configs' / 'lifter').glob('*.yaml'))
    assert len(configs) >= 8
    for path in configs:
        train_lifter.load_config(path)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('tiny')
    config = train_lifter.load_config(write_config(out, TINY))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        checkpoint = train_lifter.train(config, out / 'run', device='cpu', progress=False)
    return out / 'run', checkpoint


@needs_h36m
def test_tiny_training_beats_the_mean_pose_by_a_clear_margin(tiny_run):
    run, checkpoint = tiny_run
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        train = lifting_frames(load_h36m(H36M_ROOT, [1], detections=False), 'ground_truth', 80)
        test = lifting_frames(load_h36m(H36M_ROOT, [9], detections=False), 'ground_truth', 40)
    assert len(train) < 1000
    relative = lambda poses: poses - poses[:, ROOT:ROOT + 1]  # noqa: E731
    mean_pose = relative(train.poses_camera).mean(axis=0)
    mean_pose_error = np.linalg.norm(relative(test.poses_camera) - mean_pose, axis=-1).mean()
    model, _ = load_lifter(run / 'checkpoint.pt')
    result = evaluate_lifter.evaluate(model, test, 1, 'ground_truth', 20.0)
    print(result['mpjpe_mm'], mean_pose_error)
    assert result['mpjpe_mm'] < 0.7 * mean_pose_error, (result['mpjpe_mm'], mean_pose_error)
    assert result['pa_mpjpe_mm'] < result['mpjpe_mm']  # the alignment absorbs scale and rotation errors
    history = checkpoint['history']
    assert [record['epoch'] for record in history] == list(range(1, 7))
    assert history[-1]['loss_pose_stage2'] < history[0]['loss_pose_stage2']
    assert history[-1]['eval_mpjpe_mm'] == pytest.approx(result['mpjpe_mm'], rel=0.02)
    assert (run / 'config.yaml').is_file() and len((run / 'history.jsonl').read_text().splitlines()) == 6


@needs_h36m
def test_evaluation_command_writes_the_report(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    report_path = tmp_path / 'report.json'
    assert evaluate_lifter.main(['--checkpoint', str(run / 'checkpoint.pt'), '--data', str(H36M_ROOT),
                                 '--subjects', '9', '--protocol', '2', '--ranking', 'noisy',
                                 '--frame-step', '40', '--json', str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert {'protocol', 'subjects', 'inputs', 'ranking', 'mpjpe_mm', 'per_action_mm', 'frames', 'mrpe_mm'} <= set(report)
    assert report['mrpe_mm'] > 0 and report['root_placed_frames'] == report['frames']
    # the signed means (placed minus true) lie within the mean absolute parts, and not all at 0
    bias, parts = np.array(report['root_bias_xyz_mm']), np.array(report['mrpe_xyz_mm'])
    assert np.all(np.abs(bias) <= parts + 1e-9) and np.abs(bias).max() > 0
    assert report['protocol'] == 2 and report['subjects'] == [9] and report['inputs'] == 'ground_truth'
    assert report['ranking'] == {'source': 'noisy', 'tie_mm': 20.0, 'seed': 0, 'pair_accuracy': 0.91,
                                 'depth_error_mm': 0.0}
    assert len(report['per_action_mm']) == 15
    assert report['mpjpe_mm'] == pytest.approx(np.mean(list(report['per_action_mm'].values())))
    assert report['pa_mpjpe_mm'] == report['mpjpe_mm']  # Protocol #2's error is the aligned one
    table = capsys.readouterr().out
    assert 'Average' in table and f'{report["mpjpe_mm"]:.1f}' in table and 'PA-MPJPE' in table
    # With the floor under the feet (each camera's from its calibration) the placements move.
    assert evaluate_lifter.main(['--checkpoint', str(run / 'checkpoint.pt'), '--data', str(H36M_ROOT),
                                 '--subjects', '9', '--protocol', '2', '--ranking', 'noisy', '--ground-prior',
                                 '--frame-step', '40', '--json', str(report_path)]) == 0
    on_floor = json.loads(report_path.read_text())
    assert on_floor['ground_prior'] and on_floor['root_placed_frames'] == report['root_placed_frames']
    assert on_floor['mrpe_mm'] != report['mrpe_mm'] and on_floor['mpjpe_mm'] == report['mpjpe_mm']
    capsys.readouterr()
    # A ranking-reading model refuses to run without one, naming the checkpoint.
    assert evaluate_lifter.main(['--checkpoint', str(run / 'checkpoint.pt'), '--data', str(H36M_ROOT),
                                 '--ranking', 'none']) == 2
    assert 'checkpoint.pt: this dpnet model needs a ranking' in capsys.readouterr().err
    # Protocol #3 tests on camera 4, which this (protocol 1) run trained on: refused, or flagged on request.
    arguments = ['--checkpoint', str(run / 'checkpoint.pt'), '--data', str(H36M_ROOT), '--protocol', '3',
                 '--frame-step', '40', '--json', str(report_path)]
    assert evaluate_lifter.main(arguments) == 2
    assert "include Protocol #3's test camera 4; its Protocol #3 error would not measure" in capsys.readouterr().err
    assert evaluate_lifter.main(arguments + ['--allow-seen-camera']) == 0
    assert 'WARNING' in capsys.readouterr().err and json.loads(report_path.read_text())['test_camera_seen_in_training']


@needs_h36m
def test_kill_9_leaves_a_loadable_checkpoint_and_resuming_matches_an_uninterrupted_run(tiny_run, tmp_path, start_process):
    _, uninterrupted = tiny_run
    config = write_config(tmp_path, TINY)
    run = tmp_path / 'run'
    process = start_process('-m', 'training.train_lifter', '--config', str(config), '--out', str(run),
                            '--device', 'cpu', '--no-progress')
    deadline = time.monotonic() + 120
    while not (run / 'checkpoint.pt').is_file() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    _, interrupted = load_lifter(run / 'checkpoint.pt')
    assert 1 <= interrupted['epoch'] < 6
    assert train_lifter.main(['--config', str(config), '--out', str(run), '--device', 'cpu',
                              '--no-progress']) == 0
    resumed = torch.load(run / 'checkpoint.pt', weights_only=True)
    assert resumed['epoch'] == 6
    for name, value in uninterrupted['state_dict'].items():
        assert torch.equal(resumed['state_dict'][name], value), name


@needs_h36m
def test_resuming_with_another_config_is_refused_but_more_epochs_extend_the_run(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    changed = write_config(tmp_path, {**TINY, 'train': {**TINY['train'], 'lr': 1e-4}})
    assert train_lifter.main(['--config', str(changed), '--out', str(run), '--no-progress']) == 2
    assert 'checkpoint.pt was written by a different config' in capsys.readouterr().err
    extended = tmp_path / 'extended'
    shutil.copytree(run, extended)
    longer = write_config(tmp_path, {**TINY, 'train': {**TINY['train'], 'epochs': 7}})
    assert train_lifter.main(['--config', str(longer), '--out', str(extended), '--device', 'cpu',
                              '--no-progress']) == 0
    assert torch.load(extended / 'checkpoint.pt', weights_only=True)['epoch'] == 7
    # A run from before an option existed (its config lacks the key) resumes where the option
    # keeps its default, and is refused where the config sets it otherwise.
    older = tmp_path / 'older'
    shutil.copytree(run, older)
    checkpoint = torch.load(older / 'checkpoint.pt', weights_only=True)
    del checkpoint['config']['data']['tie_mm']
    torch.save(checkpoint, older / 'checkpoint.pt')
    other_tie = write_config(tmp_path, {**TINY, 'data': {**TINY['data'], 'tie_mm': 50.0}}, 'tie.yaml')
    assert train_lifter.main(['--config', str(other_tie), '--out', str(older), '--no-progress']) == 2
    assert 'checkpoint.pt was written by a different config' in capsys.readouterr().err
    assert train_lifter.main(['--config', str(longer), '--out', str(older), '--device', 'cpu',
                              '--no-progress']) == 0
    assert torch.load(older / 'checkpoint.pt', weights_only=True)['epoch'] == 7


@needs_h36m
def test_protocol_3_run_with_virtual_cameras_and_noise(tmp_path):
    config = {
        'model': {'type': 'ordinal', 'width': 32},
        'data': {'root': str(H36M_ROOT), 'train_subjects': [1], 'eval_subjects': [9], 'protocol': 3,
                 'inputs_2d': 'detections', 'frame_step': 200, 'ranking': 'noisy'},
        'augmentation': {'virtual_cameras': 2, 'detection_noise': True, 'noise_fit_frames': 300},
        'train': {'epochs': 1, 'batch_size': 32, 'eval_frame_step': 100},
    }
    config = train_lifter.load_config(write_config(tmp_path, config))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        camera_4 = load_h36m(H36M_ROOT, [9], cameras=(4,), detections=False)
        experiment = train_lifter.LifterData(config, tmp_path)
        first = experiment.training_frames(0)
        other = experiment.training_frames(1)
        again = experiment.training_frames(0)  # drawn anew from the same seed
        checkpoint = train_lifter.train(config, tmp_path / 'run', device='cpu', progress=False)
    # Cameras 1-3 give three real frames per pose, the virtual cameras two more.
    assert len(first) - len(experiment.real) == 2 * len(experiment.real) // 3
    np.testing.assert_array_equal(first.joints_2d, again.joints_2d)  # seeded per epoch
    assert not np.array_equal(first.joints_2d[len(experiment.real):], other.joints_2d[len(experiment.real):])
    assert (tmp_path / 'detection_noise.npz').is_file()
    assert set(checkpoint['history'][0]) >= {'loss_pose_stage1', 'loss_ordinal', 'eval_mpjpe_mm'}
    assert len(experiment.eval) == sum(len(sequence.poses_world[::100]) for sequence in camera_4)


@needs_h36m
def test_the_real_front_ends_noise_and_pair_accuracies_train_and_evaluate(tmp_path, capsys):
    noise, pairs = NOISE / 'blazepose_full_2d.npz', NOISE / 'blazepose_full_pairs.npy'
    depths = NOISE / 'blazepose_full_depth_mm.npy'
    config = {**TINY, 'data': {**TINY['data'], 'ranking': 'noisy', 'pair_accuracy': str(pairs),
                               'depth_error_mm': str(depths)},
              'augmentation': {'front_end_noise': str(noise)}, 'train': {**TINY['train'], 'epochs': 1}}
    config = train_lifter.load_config(write_config(tmp_path, config))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        experiment = train_lifter.LifterData(config, tmp_path)
        clean = lifting_frames(load_h36m(H36M_ROOT, [9]), 'ground_truth', 40)
        checkpoint = train_lifter.train(config, tmp_path / 'run', device='cpu', progress=False)
    # The evaluation frames carry one draw of the noise, in proportion to each person's torso.
    offsets = np.linalg.norm(experiment.eval.joints_2d - clean.joints_2d, axis=-1) / torso_lengths(clean.joints_2d)[:, None]
    assert 0.05 < np.median(offsets) < 0.3
    # Every batch draws afresh.
    rng = np.random.default_rng(0)
    batches = [training_batch(rng, experiment.real, np.arange(8), 'noisy', 20.0, experiment.ranking_noise,
                              noise_model=experiment.front_end_noise)['joints_2d'] for _ in range(2)]
    assert not np.array_equal(*batches) and not np.array_equal(batches[0], experiment.real.joints_2d[:8])
    assert np.isfinite(checkpoint['history'][0]['eval_mpjpe_mm'])
    np.testing.assert_array_equal(experiment.ranking_noise.depth_error_mm, np.load(depths))
    # A pixel-unit model is not a front end's noise.
    pixels = tmp_path / 'pixels.npz'
    DetectionNoiseModel(np.ones((16, 1)), np.zeros((16, 1, 2)), np.tile(np.eye(2), (16, 1, 1, 1))).save(pixels)
    with pytest.raises(ValueError, match=r'pixels\.npz: a front end noise model must be in torso lengths'):
        front_end_noise_model(pixels)
    assert evaluate_lifter.main(['--checkpoint', str(tmp_path / 'run' / 'checkpoint.pt'), '--data', str(H36M_ROOT),
                                 '--frame-step', '40', '--front-end-noise', str(noise),
                                 '--pair-accuracy', str(pairs), '--depth-error-mm', str(depths)]) == 0
    assert 'MRPE' in capsys.readouterr().out
