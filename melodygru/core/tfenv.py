"""Import TensorFlow without its start-up noise.

TensorFlow 2.16+ logs through absl before its log level is read, so on a machine without CUDA
every start prints "Could not find cuda drivers ..." and "failed call to cuInit" lines to stderr
whatever TF_CPP_MIN_LOG_LEVEL says. `import_tensorflow()` sends file descriptor 2 to a temporary
file while TensorFlow loads and probes its devices, and prints what was caught only if the import
fails. Call it before any other module imports TensorFlow; later calls are free.
"""


from __future__ import annotations

import os
import sys
import tempfile


def import_tensorflow():
    """Import and return the `tensorflow` module quietly (see the module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        return tf
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): import loudly
        import tensorflow as tf

        return tf
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # the CUDA probe logs here
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tf
