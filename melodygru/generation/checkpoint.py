"""A run directory loaded for sampling: its model's weights in the compiled decoder (built once),
its tokenizer, settings, form plans and critic. `model/rundir.py` owns the files; this is what
generation makes of them.
"""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis.critic import Critic
from ..core.errors import CheckpointError
from ..model.rundir import CONFIG, load_trained, read_form, read_json
from ..tokens.tokenizer import Tokenizer


@dataclass
class Checkpoint:
    """A loaded run directory, ready to sample from (the compiled decoder is built once, here).

    Attributes:
        path: the run directory.
        tokenizer: from `tokenizer.json`.
        config: the parsed `config.json`.
        decoder: a `generation.decoder.Decoder` over the model's weights.
        description: e.g. '2x256 GRU, 346 tokens'.
    """

    path: Path
    tokenizer: Tokenizer
    config: dict
    decoder: object
    description: str
    plans: list | None = None  # form plans from the run's form.json (None: the run has none)
    critic: Critic | None = None  # from the run's critic.json (None: the run has none, or it is unusable)
    critic_error: str | None = None  # why critic.json could not be used (only choosing among candidates needs it)


def load_run(path: Path) -> Checkpoint:
    """Load a run directory's model into a compiled decoder, with its tokenizer, config and form
    plans (the critic is read by the caller: it may change while the model stays loaded).

    Raises:
        CheckpointError: a missing or broken file, or a model that does not match its tokenizer.
    """
    from ..model.step import StepWeights
    from .decoder import Decoder, GrammarTables

    try:  # rundir owns the run-directory format: every check, the model rebuilt, weights read
        model, tokenizer, _ = load_trained(path)
    except CheckpointError as e:
        raise CheckpointError(str(e).strip().split("\n")[0]) from None  # Keras' reasons can run to pages
    config = read_json(path / CONFIG)
    weights = StepWeights.from_model(model)  # CheckpointError when the model is not a GRU LM
    if weights.vocab_size != len(tokenizer):
        raise CheckpointError(
            f"checkpoint {path}: model.keras has {weights.vocab_size} tokens but tokenizer.json has "
            f"{len(tokenizer)}; the files come from different runs"
        )
    units = weights.units
    shape = f"{len(units)}x{units[0]}" if len(set(units)) == 1 else "+".join(map(str, units))
    decoder = Decoder(weights, GrammarTables.from_grammar(tokenizer.grammar, pitch_low=tokenizer.config.pitch_low))
    return Checkpoint(path, tokenizer, config, decoder, f"{shape} GRU, {len(tokenizer)} tokens", read_form(path))
