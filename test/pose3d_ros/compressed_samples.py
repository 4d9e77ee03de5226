"""JPEG / PNG bytes with a header edited, for the image and camera node tests."""
import struct
import zlib

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_chunk(name, payload):
    """One PNG chunk: length, name, payload and its CRC."""
    return struct.pack('>I', len(payload)) + name + payload + struct.pack('>I', zlib.crc32(name + payload))


def claiming(data, width, height, fix_crc=True):
    """A JPEG (its baseline frame header) or PNG (its IHDR) whose header claims width x height; a
    PNG's IHDR CRC made to match unless fix_crc is false."""
    data = bytearray(data)
    if data.startswith(PNG_SIGNATURE):
        data[16:24] = struct.pack('>II', width, height)
        if fix_crc:
            data[29:33] = struct.pack('>I', zlib.crc32(data[12:29]))
    else:
        sof = data.index(b'\xff\xc0')
        data[sof + 5:sof + 9] = struct.pack('>HH', height, width)
    return bytes(data)
