"""GPU memory, copies and a stream for the TensorRT backend, through NVIDIA's CUDA runtime
bindings (`cuda.bindings.runtime`, from the `cuda-python` package; what TensorRT 10's own Python
samples use), so that a robot running TensorRT engines needs no PyTorch.

Every binding returns (error, *values); `checked` turns an error into an exception that names the
CUDA call and the error.
"""
import numpy as np


def import_cudart():
    try:
        from cuda.bindings import runtime
    except ImportError as error:
        raise ValueError(f'the TensorRT backend moves its buffers with NVIDIA\'s CUDA runtime bindings ({error}): '
                         f'python3 -m pip install cuda-python, the version of your CUDA (JetPack 6.1 and 6.2: '
                         f'"cuda-python>=12.6,<12.7")') from None
    return runtime


def error_text(cudart, error):
    return f'{error.name}: {cudart.cudaGetErrorString(error)[1].decode()}'


def checked(cudart, result, call):
    """The values of a binding's (error, *values) result: None, the value, or a tuple of them."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f'CUDA {call} failed ({error_text(cudart, error)})')
    return values[0] if len(values) == 1 else tuple(values) or None


def device_identity(cudart):
    """(GPU name, 'major.minor' compute capability) of the current CUDA device."""
    error, count = cudart.cudaGetDeviceCount()
    if error != cudart.cudaError_t.cudaSuccess or count == 0:
        reason = error_text(cudart, error) if error != cudart.cudaError_t.cudaSuccess else 'no device'
        raise ValueError(f'the TensorRT backend needs a CUDA GPU; cudaGetDeviceCount says {reason}')
    properties = checked(cudart, cudart.cudaGetDeviceProperties(checked(cudart, cudart.cudaGetDevice(),
                                                                        'cudaGetDevice')), 'cudaGetDeviceProperties')
    return properties.name.split(b'\0', 1)[0].decode(), f'{properties.major}.{properties.minor}'


class Stream:
    """A CUDA stream; `handle` is the integer TensorRT's execute_async_v3 takes."""

    def __init__(self, cudart):
        self.cudart = cudart
        self.stream = checked(cudart, cudart.cudaStreamCreate(), 'cudaStreamCreate')
        self.handle = int(self.stream)

    def synchronize(self):
        checked(self.cudart, self.cudart.cudaStreamSynchronize(self.stream), 'cudaStreamSynchronize')

    def __del__(self):
        if hasattr(self, 'stream'):  # not when its creation failed
            self.cudart.cudaStreamDestroy(self.stream)


class DeviceArray:
    """An array of fixed shape and dtype in GPU memory, filled from and read back into numpy."""

    def __init__(self, cudart, shape, dtype):
        self.cudart, self.shape, self.dtype = cudart, tuple(int(size) for size in shape), np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self.pointer = checked(cudart, cudart.cudaMalloc(max(self.nbytes, 1)), 'cudaMalloc')

    def upload(self, array, stream):
        """Queue the copy of `array` (converted to this dtype) on the stream; returns the host array,
        which must live until the stream is synchronized."""
        host = np.ascontiguousarray(array, self.dtype)
        if host.shape != self.shape:
            raise ValueError(f'expected shape {self.shape}, got {host.shape}')
        checked(self.cudart, self.cudart.cudaMemcpyAsync(self.pointer, host.ctypes.data, self.nbytes,
                                                         self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                                         stream.stream), 'cudaMemcpyAsync (to the GPU)')
        return host

    def download(self, stream):
        """Queue the copy back into a new host array, valid once the stream is synchronized."""
        host = np.empty(self.shape, self.dtype)
        checked(self.cudart, self.cudart.cudaMemcpyAsync(host.ctypes.data, self.pointer, self.nbytes,
                                                         self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                                                         stream.stream), 'cudaMemcpyAsync (from the GPU)')
        return host

    def __del__(self):
        if hasattr(self, 'pointer'):  # not when its allocation failed
            self.cudart.cudaFree(self.pointer)
