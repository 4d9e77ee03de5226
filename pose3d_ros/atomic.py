"""Atomic file writes: a crash or `kill -9` leaves either the old file or the new one, never half."""
import os
import tempfile
from pathlib import Path

# Reading the umask means setting it: done once, at import, not while other threads create files.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path, write):
    """Call write(binary_file) on a temporary file beside `path`, flush it to disk, then rename it
    over `path` (os.replace is atomic on POSIX within one file system). The file gets the
    permissions a plain open() would give it (mkstemp's are owner-only)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)
        with os.fdopen(handle, 'wb') as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
