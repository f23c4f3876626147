"""Import TensorFlow without its noise, unless the user asks for it (`--verbose`).

TensorFlow's C++ side logs to file descriptor 2 in two waves:

* while it loads and probes its devices, through absl before its log level is read: on a machine
  without CUDA every start prints "Could not find cuda drivers ...", cudart_stub and "failed call
  to cuInit" lines whatever TF_CPP_MIN_LOG_LEVEL says. `import_tensorflow()` sends fd 2 to a
  temporary file for that time and prints what was caught only if the import fails;
* while it runs, once per process: "E0000 ... util.cc:131] oneDNN supports DT_INT32 only on
  platforms with AVX-512" (an ERROR line on every CPU without AVX-512, when training starts), "I0000
  ... Created device", "WARNING: All log messages before absl::InitializeLog() is called ...".
  Only TF_CPP_MIN_LOG_LEVEL=3 (fatal only), set before TensorFlow is imported, keeps those out.

So quiet (the default) means level 3 and Python's `tensorflow` and `absl` loggers at ERROR;
`set_verbose(True)` leaves the environment's own level and fd 2 alone, so everything shows. Call
`import_tensorflow()` before any other module imports TensorFlow; later calls are free.
"""


from __future__ import annotations

import os
import sys
import tempfile

QUIET_LEVEL = "3"  # TF_CPP_MIN_LOG_LEVEL: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR either
_verbose = False


def set_verbose(verbose: bool) -> None:
    """Show TensorFlow's own log lines (`--verbose`) or keep them out (the default). Takes effect
    for an import still to come: the C++ log level is read once, when TensorFlow loads."""
    global _verbose
    _verbose = bool(verbose)


def import_tensorflow():
    """Import and return the `tensorflow` module, quietly unless `set_verbose(True)` was called
    (see the module docstring)."""
    if _verbose:
        import tensorflow as tf

        return tf
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_LEVEL
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        return tf
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): import loudly
        import tensorflow as tf

        return _quiet_loggers(tf)
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
    return _quiet_loggers(tf)


def _quiet_loggers(tf):
    """Python's side: TensorFlow's and absl's loggers show errors only (their warnings, such as
    retracing notices, mean nothing to a user of the command line)."""
    import logging

    tf.get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to quiet
        pass
    return tf


def devices() -> dict:
    """What TensorFlow will run on (imported quietly here): every GPU with its name and compute
    capability, the CUDA and cuDNN versions TensorFlow was built with, and the CPU's cores."""
    tf = import_tensorflow()
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (ValueError, RuntimeError):  # details are not known for every device
            details = {}
        capability = details.get("compute_capability")
        gpus.append({"name": details.get("device_name", gpu.name),
                     "compute_capability": "%d.%d" % tuple(capability) if capability else None})
    build = tf.sysconfig.get_build_info()
    return {"gpus": gpus, "cuda": build.get("cuda_version") if build.get("is_cuda_build") else None,
            "cudnn": build.get("cudnn_version") if build.get("is_cuda_build") else None, "cpu_cores": os.cpu_count()}
