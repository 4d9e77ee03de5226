import pytest
import torch

from pose3d_ros.models.hourglass import CHECKPOINT_FORMAT, StackedHourglass, build_hourglass, load_hourglass
from pose3d_ros.models.prcnn import PRCNN, build_prcnn, load_prcnn, pair_logits


@pytest.mark.parametrize('stacks', [1, 3])
def test_hourglass_gives_one_quarter_resolution_heatmap_per_stack(stacks):
    model = StackedHourglass(stacks=stacks, channels=16, depth=3).eval()
    heatmaps = model(torch.rand(2, 3, 64, 64))
    assert len(heatmaps) == stacks
    assert all(h.shape == (2, 16, 16, 16) for h in heatmaps)


def test_prcnn_scores_one_value_per_joint_for_both_layouts():
    for depth in (18, 34):
        model = PRCNN(depth=depth, width=8).eval()
        scores = model(torch.rand(2, 3, 64, 64), torch.rand(2, 16, 16, 16))
        assert scores.shape == (2, 16)
    assert sum(p.numel() for p in PRCNN(34, 8).parameters()) > sum(p.numel() for p in PRCNN(18, 8).parameters())


def test_prcnn_reads_the_heatmaps():
    model = PRCNN(width=8).eval()
    image = torch.rand(1, 3, 64, 64)
    assert not torch.allclose(model(image, torch.zeros(1, 16, 16, 16)), model(image, torch.rand(1, 16, 16, 16)))


def test_pair_logits_are_antisymmetric_differences():
    scores = torch.tensor([[0.0, 1.0, 3.0]])
    logits = pair_logits(scores)
    assert torch.equal(logits, -logits.transpose(1, 2))
    assert logits[0, 2, 0] == 3.0  # joint 2 has the larger score: behind joint 0


def test_bad_specs_and_files_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="depth must be one of \\[18, 34\\], got 50"):
        build_prcnn({'type': 'prcnn', 'depth': 50})
    with pytest.raises(ValueError, match="bad arguments for model type 'hourglass'.*layers"):
        build_hourglass({'type': 'hourglass', 'layers': 3})
    (tmp_path / 'garbage.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match=r'garbage\.pt: not a readable hourglass checkpoint'):
        load_hourglass(tmp_path / 'garbage.pt')
    torch.save({'format': CHECKPOINT_FORMAT, 'model': {'type': 'hourglass'}, 'state_dict': {},
                'input_size': 64}, tmp_path / 'hourglass.pt')
    with pytest.raises(ValueError, match=r"hourglass\.pt: expected a 'pose3d_ros.prcnn/1' checkpoint, "
                                         r"found 'pose3d_ros.hourglass/1'"):
        load_prcnn(tmp_path / 'hourglass.pt')
    with pytest.raises(ValueError, match=r"hourglass\.pt: the state_dict does not fit .* [0-9]+ missing \(e\.g\. 'image_mean'\)"):
        load_hourglass(tmp_path / 'hourglass.pt')
