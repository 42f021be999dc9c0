"""The development kit: API simulators, stand-ins and the local entry points (``make run``,
``make dev``, ``make serve``). Installed by ``pip install -e .[dev]`` beside ``lbh_platform``;
the production package never imports it and the production image does not contain it."""
