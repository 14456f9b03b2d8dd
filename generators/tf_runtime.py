"""Import TensorFlow and Keras once, without the native start-up noise.

TensorFlow's C++ core logs a few INFO lines at import (oneDNN, missing CUDA
drivers) before its logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot
hide them. The import runs with the process's stderr (file descriptor 2)
captured; afterwards every captured line that is not such INFO noise is
written back, so real errors still show.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

#: CPU threads for TensorFlow, read once at import (``--threads`` sets it; see training.set_threads).
THREADS_ENV = "GHOSTWRITER_TF_THREADS"

_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} "
    r"|E\d{4} .*(cuInit|cuda_platform|cuda_dnn|cuda_fft|cuda_blas))"
)


def _quiet_import():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (e.g. captured by a test runner)
        fd = 2
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), fd)
        try:
            import keras
            import tensorflow as tf

            threads = int(os.environ.get(THREADS_ENV) or 0)
            if threads > 0:  # must be set before the runtime initialises
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            tf.config.list_logical_devices()  # device discovery logs too; do it while captured
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines():
                if line and not _NOISE.match(line):
                    print(line, file=sys.stderr)
    return tf, keras


tf, keras = _quiet_import()
