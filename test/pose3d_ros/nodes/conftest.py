"""What the node tests share: a session cache folder holding the fetched BlazePose files."""
import pytest

from pose3d_ros.models.blazepose_release import MODEL_FILES, SUBFOLDER, model_dir


@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
    """A cache_dir for the nodes: the BlazePose files fetched by tools/setup, linked in, and room
    for exports made during the session (none leak into the user's cache)."""
    fetched = model_dir()
    missing = [name for name in MODEL_FILES if not (fetched / name).is_file()]
    assert not missing, f'BlazePose files {missing} missing in {fetched}: run tools/setup'
    folder = tmp_path_factory.mktemp('cache')
    (folder / SUBFOLDER).symlink_to(fetched, target_is_directory=True)
    return folder
