"""model: the network. The Keras model and its presets (`network`), the fused CPU GRU
(`gru_cpu`), the one recurrent step generation runs (`step`), and the run directory: its files,
format and the one loader every command uses (`rundir`).

May import core and tokens.
"""
