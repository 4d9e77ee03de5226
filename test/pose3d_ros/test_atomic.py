import os

import pytest

from pose3d_ros.atomic import atomic_write


def test_atomic_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / 'file.bin'
    atomic_write(path, lambda file: file.write(b'old'))
    atomic_write(path, lambda file: file.write(b'new'))
    assert path.read_bytes() == b'new'
    assert os.listdir(tmp_path) == ['file.bin']
    plain = tmp_path / 'plain.bin'
    plain.write_bytes(b'')
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not mkstemp's owner-only
    os.remove(plain)


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'file.bin'
    atomic_write(path, lambda file: file.write(b'old'))

    def fail(file):
        file.write(b'partial')
        raise RuntimeError('disk full')

    with pytest.raises(RuntimeError, match='disk full'):
        atomic_write(path, fail)
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['file.bin']
