"""The laboratory: carrier-behaviour experiments described in `experiments/*.toml`, run against the
engine and the simulators as separate processes, and reported as JSON and self-contained HTML.

`scenario` reads a scenario file (variants, the quick version), `configs` turns one variant into
the simulators' and the engine's TOML, `traffic` plans the sends from the seed, `runner` starts
the processes and drives them, `accounting` reconciles what came back, `report` and `charts` write
what a person reads. Nothing here imports the simulators: they are another process.
"""
