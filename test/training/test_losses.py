import math

import pytest
import torch

from pose3d_ros.models.lifter import build_lifter
from pose3d_ros.ranking import BEHIND, FRONT, TIE, ranking_matrix
from training.losses import lifter_loss, ordinal_loss


def test_ordinal_loss_per_relation():
    depths = torch.tensor([[2.0, 0.5]])  # z_0 - z_1 = 1.5
    def pair(relation):
        ranking = torch.full((1, 2, 2), TIE)
        ranking[0, 0, 1], ranking[0, 1, 0] = relation, 1 - relation
        return ordinal_loss(depths, ranking).item()
    assert pair(BEHIND) == pytest.approx(math.log1p(math.exp(-1.5)))   # agrees: small
    assert pair(FRONT) == pytest.approx(math.log1p(math.exp(1.5)))     # disagrees: large
    assert pair(TIE) == pytest.approx(1.5 ** 2)                        # ties pull together


def test_ordinal_loss_is_minimized_by_the_true_order():
    true_depths = torch.tensor([[3.0, 1.0, 2.0, 2.005]])
    ranking = torch.from_numpy(ranking_matrix(true_depths.numpy() * 1000, tie_mm=20))
    depths = torch.zeros(1, 4, requires_grad=True)
    optimizer = torch.optim.SGD([depths], lr=0.5)
    for _ in range(300):
        optimizer.zero_grad()
        ordinal_loss(depths, ranking).backward()
        optimizer.step()
    z = depths.detach()[0]
    assert z[0] > z[2] > z[1] and z[0] > z[3] > z[1]
    assert abs(z[2] - z[3]) < 0.05  # the tied pair


def test_ordinal_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r'depths \(B, N\) and ranking \(B, N, N\) do not match'):
        ordinal_loss(torch.zeros(2, 4), torch.zeros(2, 3, 3))


def test_lifter_loss_sums_every_supervised_term():
    joints, ranking = torch.zeros(3, 16, 2), torch.full((3, 16, 16), TIE)
    targets, coarse = torch.ones(3, 48), torch.ones(3, 16)
    dpnet = build_lifter({'type': 'dpnet', 'width': 16})
    total, terms = lifter_loss(dpnet(joints, ranking), targets, coarse, ranking)
    assert set(terms) == {'pose_stage1', 'pose_stage2', 'coarse_depth'}
    assert total.item() == pytest.approx(sum(terms.values()), rel=1e-6)
    ordinal = build_lifter({'type': 'ordinal', 'width': 16})
    assert set(lifter_loss(ordinal(joints, ranking), targets, None, ranking)[1]) == {'pose_stage1', 'ordinal'}
    with pytest.raises(ValueError, match='coarse depth O but no target'):
        lifter_loss(dpnet(joints, ranking), targets)
    with pytest.raises(ValueError, match='ordinal depths but no ranking target'):
        lifter_loss(ordinal(joints, ranking), targets)
