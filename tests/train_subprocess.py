"""Run a tiny training in a process of its own, for the tests that need one.

Usage: python train_subprocess.py '<json>' with keys run_dir, config (TrainConfig fields), pieces
(toy corpus size) and optionally: resume, logical_cpus (split the CPU into N logical devices for
MirroredStrategy), hang_at_replace + marker (freeze inside the N-th os.replace after the first
last_state.json is in place, i.e. in the middle of saving a file of a later epoch, after writing
`marker`, so a test can kill -9 the process there; counting from the first complete save keeps the
test independent of how many files a run writes once at its start).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
args = json.loads(sys.argv[1])

if args.get("logical_cpus"):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args["logical_cpus"])

if args.get("hang_at_replace"):
    real_replace = os.replace
    calls = [0]
    first_save = [False]

    def replace(src, dst):
        if first_save[0]:
            calls[0] += 1
        if calls[0] == args["hang_at_replace"]:
            with open(args["marker"], "w") as f:
                f.write(str(dst))
            time.sleep(600)
        done = real_replace(src, dst)
        first_save[0] = first_save[0] or os.path.basename(str(dst)) == "last_state.json"
        return done

    os.replace = replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toy_tokens import toy_corpus, toy_tokenizer  # noqa: E402

from melodygru.training.config import TrainConfig  # noqa: E402
from melodygru.training.run import train  # noqa: E402

tok = toy_tokenizer()
metrics = train(
    toy_corpus(tok, args["pieces"]),
    tok,
    args["run_dir"],
    TrainConfig(**args["config"]),
    resume=args.get("resume", False),
    log=lambda line: print(line, flush=True),
)
print("METRICS " + json.dumps(metrics), flush=True)
