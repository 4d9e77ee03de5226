import pytest
import torch

from pose3d_ros.models.lifter import (CHECKPOINT_FORMAT, DPNet, build_lifter, load_lifter)
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, FLIP_PERMUTATION, NUM_JOINTS, ROOT

SPECS = {
    'baseline': {'type': 'baseline', 'width': 32},
    'dpnet': {'type': 'dpnet', 'width': 32},
    'dpnet_no_depthnet': {'type': 'dpnet', 'width': 32, 'depthnet': False},
    'ordinal': {'type': 'ordinal', 'width': 32},
}


def inputs(batch=5):
    generator = torch.Generator().manual_seed(0)
    ranking = (torch.rand(batch, 16, 16, generator=generator) > 0.5).float()
    ranking = torch.triu(ranking, 1) + torch.triu(1 - ranking, 1).transpose(1, 2) + 0.5 * torch.eye(16)
    return torch.randn(batch, 16, 2, generator=generator) * 0.2, ranking


@pytest.mark.parametrize('name', SPECS)
def test_output_shapes_of_every_lifter(name):
    model = build_lifter(SPECS[name])
    joints, ranking = inputs()
    outputs = model(joints, ranking)
    assert outputs['pose'].shape == (5, 48)
    assert len(outputs['stages']) == (2 if name.startswith('dpnet') else 1)
    assert ('coarse_depth' in outputs) == (name == 'dpnet')
    assert ('ordinal_depth' in outputs) == (name == 'ordinal')
    if name == 'dpnet':
        assert outputs['coarse_depth'].shape == (5, 16)
    pose = model.eval().predict(joints, ranking)
    assert pose.shape == (5, NUM_JOINTS, 3)
    assert torch.all(pose[:, ROOT] == 0)


def test_dpnet_reads_the_ranking_and_the_baseline_does_not():
    joints, ranking = inputs()
    for name, reads in (('dpnet', True), ('baseline', False)):
        model = build_lifter(SPECS[name]).eval()
        changed = model.predict(joints, 1 - ranking) - model.predict(joints, ranking)
        assert bool(changed.abs().max() > 0) == reads, name


@pytest.mark.parametrize('name', ['dpnet', 'baseline'])
def test_mirror_average_is_mirror_equivariant_and_differs_from_one_pass(name):
    # Averaging with the mirrored input makes the lifter exactly mirror-equivariant: lifting the
    # mirrored image gives the mirrored pose. A wrong joint or ranking permutation breaks this.
    model = build_lifter(SPECS[name]).eval()
    joints, ranking = inputs()
    mirrored_joints = joints[:, DETECTED_FLIP_PERMUTATION] * torch.tensor([-1.0, 1.0])
    mirrored_ranking = ranking[:, DETECTED_FLIP_PERMUTATION][:, :, DETECTED_FLIP_PERMUTATION]
    pose = model.predict(joints, ranking, mirror_average=True)
    from_mirror = model.predict(mirrored_joints, mirrored_ranking, mirror_average=True)
    assert torch.allclose(from_mirror[:, FLIP_PERMUTATION] * torch.tensor([-1.0, 1.0, 1.0]), pose, atol=1e-3)
    assert (pose - model.predict(joints, ranking)).abs().max() > 1e-3


def test_second_stage_is_a_residual_on_the_first():
    model = DPNet(width=32).eval()
    torch.nn.init.zeros_(model.stage2.head.weight)
    torch.nn.init.zeros_(model.stage2.head.bias)
    outputs = model(*inputs())
    assert torch.equal(outputs['stages'][0], outputs['stages'][1])


def test_targets_round_trip_through_the_normalization():
    model = build_lifter(SPECS['dpnet'])
    poses = torch.randn(4, NUM_JOINTS, 3) * 300 + torch.tensor([0.0, 0.0, 5000.0])
    model.set_normalization(torch.zeros(32), torch.ones(32), torch.randn(48) * 10, torch.rand(48) * 200 + 50)
    back = model.to_millimetres(model.standardize_targets(poses))
    assert torch.allclose(back, poses - poses[:, ROOT:ROOT + 1], atol=1e-3)


def test_build_lifter_names_the_bad_type_and_argument():
    with pytest.raises(ValueError, match="model type must be one of .*'resnet'"):
        build_lifter({'type': 'resnet'})
    with pytest.raises(ValueError, match="bad arguments for model type 'dpnet'.*stages"):
        build_lifter({'type': 'dpnet', 'stages': 3})


def save(path, checkpoint):
    torch.save(checkpoint, path)
    return path


def test_load_lifter_round_trips_a_checkpoint_in_fp16(tmp_path):
    model = build_lifter(SPECS['dpnet']).eval()
    state = {name: value.half() if value.is_floating_point() else value
             for name, value in model.state_dict().items()}
    path = save(tmp_path / 'lifter.pt', {'format': CHECKPOINT_FORMAT, 'model': SPECS['dpnet'],
                                         'data': {'ranking': 'noisy'}, 'state_dict': state})
    loaded, checkpoint = load_lifter(path)
    assert checkpoint['data'] == {'ranking': 'noisy'}
    assert not loaded.training
    joints, ranking = inputs()
    assert torch.allclose(loaded.predict(joints, ranking), model.predict(joints, ranking), atol=5.0)


def test_load_lifter_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r'missing\.pt: lifter checkpoint not found'):
        load_lifter(tmp_path / 'missing.pt')
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'\x00not a checkpoint' * 10)
    with pytest.raises(ValueError, match=r'garbage\.pt: not a readable lifter checkpoint'):
        load_lifter(garbage)

    model = build_lifter(SPECS['baseline'])
    good = save(tmp_path / 'good.pt', {'format': CHECKPOINT_FORMAT, 'model': SPECS['baseline'],
                                       'data': {}, 'state_dict': model.state_dict()})
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r'truncated\.pt: not a readable lifter checkpoint'):
        load_lifter(truncated)

    foreign = save(tmp_path / 'foreign.pt', {'weights': 1})
    with pytest.raises(ValueError, match=r"foreign\.pt: expected a 'pose3d_ros.lifter/1' checkpoint"):
        load_lifter(foreign)
    no_state = save(tmp_path / 'no_state.pt', {'format': CHECKPOINT_FORMAT, 'model': SPECS['baseline'],
                                               'data': {}})
    with pytest.raises(ValueError, match=r"no_state\.pt: checkpoint has no 'state_dict' entry"):
        load_lifter(no_state)
    mismatched = save(tmp_path / 'mismatched.pt', {'format': CHECKPOINT_FORMAT, 'model': SPECS['dpnet'],
                                                   'data': {}, 'state_dict': model.state_dict()})
    with pytest.raises(ValueError, match=r'mismatched\.pt: .*state_dict'):
        load_lifter(mismatched)
