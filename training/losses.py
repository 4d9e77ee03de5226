"""Losses of the lifters: DPNet's L = L_O + L_S3D + L'_S3D and Pavlakos et al.'s ordinal loss."""
import torch
import torch.nn.functional as F

from pose3d_ros.ranking import BEHIND, FRONT


def ordinal_loss(depths, ranking):
    """Ordinal depth ranking loss (Pavlakos et al. 2018, eq. 2), mean over joint pairs i < j.

    depths: (B, N) predicted depths z (larger = farther); ranking: (B, N, N) with M_ij = BEHIND
    when joint i is farther than joint j, FRONT when nearer, anything else a tie. Per pair:
    log(1 + exp(-(z_i - z_j))) when i is behind, log(1 + exp(z_i - z_j)) when in front,
    (z_i - z_j)^2 for a tie.
    """
    if depths.ndim != 2 or ranking.shape != (*depths.shape, depths.shape[1]):
        raise ValueError(f'depths (B, N) and ranking (B, N, N) do not match: '
                         f'{tuple(depths.shape)} and {tuple(ranking.shape)}')
    upper_i, upper_j = torch.triu_indices(depths.shape[1], depths.shape[1], offset=1)
    difference = depths[:, upper_i] - depths[:, upper_j]
    relation = ranking[:, upper_i, upper_j]
    loss = torch.where(relation == BEHIND, F.softplus(-difference),
                       torch.where(relation == FRONT, F.softplus(difference), difference ** 2))
    return loss.mean()


def lifter_loss(outputs, targets, coarse_depth=None, ranking=None):
    """Sum of the lifter's supervised terms -> (total, {name: value}).

    outputs: a Lifter's forward() dict; targets: (B, 48) standardized poses supervising every
    stage (MSE); coarse_depth: (B, N) DepthNet target O (MSE, when the model has a DepthNet);
    ranking: (B, N, N) ground-truth ranking for the ordinal loss (when the model has a depth head).
    """
    terms = {f'pose_stage{index + 1}': F.mse_loss(stage, targets)
             for index, stage in enumerate(outputs['stages'])}
    if 'coarse_depth' in outputs:
        if coarse_depth is None:
            raise ValueError('the model predicts a coarse depth O but no target was given')
        terms['coarse_depth'] = F.mse_loss(outputs['coarse_depth'], coarse_depth)
    if 'ordinal_depth' in outputs:
        if ranking is None:
            raise ValueError('the model predicts ordinal depths but no ranking target was given')
        terms['ordinal'] = ordinal_loss(outputs['ordinal_depth'], ranking)
    return sum(terms.values()), {name: value.item() for name, value in terms.items()}
