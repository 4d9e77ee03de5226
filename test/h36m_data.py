"""Where the tests find Human3.6M; tests that need it skip with this message when it is absent."""
import pytest

from training.datasets.h36m import DEFAULT_ROOT as H36M_ROOT

needs_h36m = pytest.mark.skipif(
    not (H36M_ROOT / 'cameras.h5').is_file(),
    reason=f'Human3.6M not found at {H36M_ROOT} (the ../shared/data/h36m folder beside the checkout)')
