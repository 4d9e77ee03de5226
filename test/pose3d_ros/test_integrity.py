import shutil
import subprocess

import pytest

from pose3d_ros import integrity
from pose3d_ros.models.lifter import load_lifter
from pose3d_ros.paths import DEFAULT_LIFTER, WEIGHTS_DIR


def flip_bytes(path, count=64, seed=0):
    """`count` bytes inverted at seeded places in the second half of the file (the weights)."""
    import numpy as np

    data = bytearray(path.read_bytes())
    for place in np.random.default_rng(seed).integers(len(data) // 2, len(data), count):
        data[place] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_manifest_lists_every_shipped_file_with_its_sha256():
    listed = integrity.read_manifest()
    shipped = sorted(path.name for path in WEIGHTS_DIR.iterdir() if path.suffix in integrity.SHIPPED_SUFFIXES)
    assert sorted(listed) == shipped
    # The format sha256sum reads, so a user can check an installed tree without Python.
    check = subprocess.run(['sha256sum', '--check', '--strict', integrity.MANIFEST_NAME], cwd=WEIGHTS_DIR,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for name in shipped:
        integrity.check_shipped(WEIGHTS_DIR / name)


def test_a_changed_or_unlisted_shipped_file_is_refused_naming_it(tmp_path):
    weights = tmp_path / 'weights'
    weights.mkdir()
    shutil.copy(DEFAULT_LIFTER, weights / 'lifter_dpnet.pt')
    listed = integrity.write_manifest(weights)
    flip_bytes(weights / 'lifter_dpnet.pt')
    with pytest.raises(ValueError, match=rf"lifter_dpnet\.pt: sha256 [0-9a-f]{{64}} differs from "
                                         rf"{listed['lifter_dpnet.pt']} listed in .*SHA256SUMS"):
        integrity.check_shipped(weights / 'lifter_dpnet.pt', weights)
    shutil.copy(DEFAULT_LIFTER, weights / 'lifter_new.pt')
    with pytest.raises(ValueError, match=r'lifter_new\.pt: a shipped file not listed in .*SHA256SUMS'):
        integrity.check_shipped(weights / 'lifter_new.pt', weights)
    integrity.list_if_shipped(weights / 'lifter_new.pt', weights)
    integrity.check_shipped(weights / 'lifter_new.pt', weights)
    (weights / integrity.MANIFEST_NAME).unlink()
    with pytest.raises(ValueError, match=r'SHA256SUMS: cannot read the list of shipped files \(No such file'):
        integrity.check_shipped(weights / 'lifter_new.pt', weights)
    (weights / integrity.MANIFEST_NAME).write_text('abc  lifter_new.pt\n')
    with pytest.raises(ValueError, match=r"SHA256SUMS:1: expected \"<sha256>  <file name>\", got 'abc  lifter_new\.pt'"):
        integrity.check_shipped(weights / 'lifter_new.pt', weights)


def test_flipped_bytes_in_any_checkpoint_are_found_before_it_loads(tmp_path):
    """torch.load alone loads these and the lifter places people metres off (issue 17)."""
    for seed in range(5):
        damaged = tmp_path / f'mine_{seed}.pt'  # a user's checkpoint: no manifest vouches for it
        shutil.copy(DEFAULT_LIFTER, damaged)
        flip_bytes(damaged, seed=seed)
        with pytest.raises(ValueError, match=rf"mine_{seed}\.pt: damaged checkpoint"):
            load_lifter(damaged)
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(DEFAULT_LIFTER.read_bytes()[:100_000])
    with pytest.raises(ValueError, match=r'truncated\.pt: not a readable lifter checkpoint'):
        load_lifter(truncated)
    intact = tmp_path / 'intact.pt'
    shutil.copy(DEFAULT_LIFTER, intact)
    load_lifter(intact)


def test_a_fetched_blazepose_file_that_changed_is_refused_saying_how_to_fetch_it(tmp_path):
    from pose3d_ros.models.blazepose_release import SUBFOLDER, model_dir, model_path

    (tmp_path / SUBFOLDER).mkdir()
    (model_dir(tmp_path) / 'pose_detection.tflite').write_bytes(b'TFL3 not the release')
    with pytest.raises(ValueError, match=r"pose_detection\.tflite: sha256 [0-9a-f]{64} differs from the release's "
                                         r"9ba9dd3d.* fetch it again with `pose3d_fetch_blazepose --cache-dir "):
        model_path('pose_detection.tflite', tmp_path)
