"""The SMPP carrier simulators: `python -m carriers`, composed by `carriers.group`."""
