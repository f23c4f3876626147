"""training: tokens -> a trained run directory. Settings and resume checks (`config`), training
windows with transposition (`windows`), the learning-rate schedules (`schedule`), the run-directory
side of a run (`setup`), the training loop (`loop`) and the entry point (`run`).

May import core, tokens and model.
"""
