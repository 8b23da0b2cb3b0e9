"""A training run: presets, callbacks, restart candidates and the loop that writes a run folder
(depends on every layer below it: a run evaluates itself and draws its pictures)."""
