"""The local entry points start whatever the stand-in registry holds: a made-up source's entry
is started, pointed at, clocked and stopped with no code naming it; a stand-in whose real
service is configured is left out; a failed start stops the ones already running."""

import os
from datetime import date, datetime

import pytest

from lbh_platform import settings_registry as registry
from lbh_platform_devkit.local import LocalStandIns
from lbh_platform_devkit.stand_ins import STAND_INS, LocalWorld, StandIn, Started

WORLD = LocalWorld(epoch=date(2024, 1, 1))


class FakeServer:
    def __init__(self, name: str, log: list[str]):
        self.name, self.log, self.now = name, log, None

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def set_now(self, moment: datetime | None) -> None:
        self.now = moment


def entry(name: str, log: list[str], variable: str | None = None) -> StandIn:
    variable = variable or f"{name.upper()}_API_URL"

    def start(world: LocalWorld) -> Started:
        server = FakeServer(name, log)
        log.append(f"start {name} {world.epoch}")
        url = f"http://127.0.0.1:1/{name}"
        return Started(server, url, {variable: url}, server.stop, server.set_now)

    return StandIn(name, start, (f"{name.upper()}_API_URL",), real_service=variable)


@pytest.fixture
def clean(monkeypatch):
    """The made-up sources' settings, declared for this test only, unset."""
    for name in ("MADE_UP_API_URL", "OTHER_API_URL", "UNDECLARED_URL"):
        setting = registry.Setting(name, "a made-up source's API", scope="sources")
        monkeypatch.setitem(registry._REGISTRY, name, setting)
        monkeypatch.delenv(name, raising=False)
    yield
    for name in ("MADE_UP_API_URL", "OTHER_API_URL", "UNDECLARED_URL"):
        os.environ.pop(name, None)  # set by the stand-ins, not through monkeypatch


def test_a_registered_stand_in_is_started_pointed_at_clocked_and_stopped(clean):
    log: list[str] = []
    moment = datetime(2024, 2, 1, 3)
    with LocalStandIns(WORLD, entries=[entry("made_up", log)]) as running:
        assert os.environ["MADE_UP_API_URL"] == "http://127.0.0.1:1/made_up"
        assert running.describe() == "made_up http://127.0.0.1:1/made_up"
        running.set_now(moment)
        assert running["made_up"].now == moment
    assert log == ["start made_up 2024-01-01", "stop made_up"]
    # Stopped: its address no longer passes for a configured real service.
    assert registry.get("MADE_UP_API_URL") is None


def test_a_stand_in_whose_real_service_is_configured_is_left_out(clean, monkeypatch):
    log: list[str] = []
    monkeypatch.setenv("MADE_UP_API_URL", "https://real.example/api")
    entries = [entry("made_up", log), entry("other", log)]
    with LocalStandIns(WORLD, entries=entries, keep_real_services=True) as running:
        assert list(running.running) == ["other"]
    assert log == ["start other 2024-01-01", "stop other"]
    # Without keep_real_services (make run), every stand-in runs.
    with LocalStandIns(WORLD, entries=entries) as running:
        assert list(running.running) == ["made_up", "other"]


def test_a_stand_in_setting_undeclared_variables_stops_the_ones_already_running(clean):
    log: list[str] = []
    entries = [entry("other", log), entry("made_up", log, variable="UNDECLARED_URL")]
    with pytest.raises(RuntimeError, match="'made_up' set \\['UNDECLARED_URL'\\]"):
        LocalStandIns(WORLD, entries=entries)
    assert log == [
        "start other 2024-01-01",
        "start made_up 2024-01-01",
        "stop made_up",
        "stop other",
    ]


def test_every_source_registers_one_stand_in_with_its_own_variables():
    names = [e.name for e in STAND_INS]
    assert len(names) == len(set(names))
    for stand_in in STAND_INS:
        assert stand_in.real_service in stand_in.environment
        # Unset means "no real service": a default would leave the stand-in out for good.
        assert registry.declared(stand_in.real_service).default is None
