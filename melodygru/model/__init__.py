"""model: the network. The Keras model and its presets (`network`), the fused CPU GRU
(`gru_cpu`), the one recurrent step generation runs (`step`), and the run directory: its files,
format and the one loader every command uses (`rundir`), and a run directory packed into one
file and safely opened again (`bundle`).

May import core and tokens.
"""
