"""A setting that cannot be used stops a start with one line naming it, never a traceback
or a pool that restarts its processes into the same error for good."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hireflow.engine.embedded import free_port
from hireflow.engine.process import start_timeout
from hireflow.run import check_component_settings, component_environment
from hireflow.settings import SettingError, decimal_number, log_level, switch, whole_number
from hireflow.store import checked_database_url
from webapp.config import settings_from_environment


def test_numbers_take_their_default_when_unset_or_empty():
    assert whole_number({}, "N", 8) == 8
    assert whole_number({"N": " "}, "N", 8) == 8
    assert whole_number({"N": " 12 "}, "N", 8, minimum=1) == 12
    assert decimal_number({"S": "2.5"}, "S", 10.0) == 2.5


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda: whole_number({"N": "eight"}, "N", 8), "N='eight' is not a whole number"),
        (lambda: whole_number({"N": "2.5"}, "N", 8), "N='2.5' is not a whole number"),
        (lambda: whole_number({"N": "0"}, "N", 8, minimum=1), "N=0 is below its minimum, 1"),
        (lambda: decimal_number({"S": "ten"}, "S", 1.0), "S='ten' is not a number"),
        (lambda: decimal_number({"S": "nan"}, "S", 1.0), "S='nan' is not a finite number"),
        (lambda: decimal_number({"S": "-1"}, "S", 1.0, minimum=0), "S=-1 is below its minimum, 0"),
        (lambda: switch({"B": "maybe"}, "B", True), "B='maybe' is neither on"),
        (lambda: log_level({"HIREFLOW_LOG_LEVEL": "verbose"}), "is not a log level: one of DEBUG"),
    ],
)
def test_a_value_that_cannot_be_used_is_named_with_what_it_takes(read, message):
    with pytest.raises(SettingError, match=re.escape(message)):
        read()


def test_switches_and_log_levels_take_any_case():
    assert switch({"B": "OFF"}, "B", True) is False
    assert switch({"B": "Yes"}, "B", False) is True
    assert switch({}, "B", True) is True
    assert log_level({"HIREFLOW_LOG_LEVEL": "debug"}) == logging.DEBUG
    assert log_level({}) == logging.INFO


def test_an_empty_switch_is_refused_rather_than_read_as_its_default():
    """``HIREFLOW_CONSOLE=`` may well mean "off"; reading it as the default (on) would open
    the console where its operator meant to close it."""
    with pytest.raises(SettingError, match="HIREFLOW_CONSOLE=''"):
        settings_from_environment({"HIREFLOW_CONSOLE": ""})


def test_the_webapp_reads_its_numbers_and_switches_strictly():
    settings = settings_from_environment({"HIREFLOW_CONSOLE": "off", "HIREFLOW_PROXY_HOPS": "2"})
    assert (settings["CONSOLE"], settings["PROXY_HOPS"]) == (False, 2)
    with pytest.raises(SettingError, match="HIREFLOW_PROXY_HOPS=-1 is below its minimum, 0"):
        settings_from_environment({"HIREFLOW_PROXY_HOPS": "-1"})


def run_component(module: str, tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HIREFLOW_DATA_DIR": str(tmp_path / "data"),
        "HIREFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "HIREFLOW_WORKER_STATUS_PORT": str(free_port()),
        "HIREFLOW_WEB_PORT": str(free_port()),
        "HIREFLOW_WEB_METRICS_PORT": "0",
        **settings,
    }
    return subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_worker_pool_refuses_its_own_bad_setting_before_it_starts(tmp_path):
    result = run_component("job_workers", tmp_path, HIREFLOW_WORKER_PROCESSES="two")
    assert result.returncode == 2
    assert "worker pool not started: HIREFLOW_WORKER_PROCESSES='two' is not a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_processs_bad_setting_stops_the_pool_instead_of_a_restart_loop(tmp_path):
    """The supervisor does not read the adapters' settings (it stays small); its processes
    do, and one that refuses them ends the pool at once, with the setting named."""
    result = run_component(
        "job_workers", tmp_path, HIREFLOW_WORKER_PROCESSES="2", HIREFLOW_PARSER_MEMORY_MB="lots"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "not started: HIREFLOW_PARSER_MEMORY_MB='lots' is not a whole number" in output
    assert "refused its settings" in output and "the pool stops" in output
    assert "restarting in" not in output and "Traceback" not in output


def test_the_webapp_refuses_a_bad_setting_before_it_forks(tmp_path):
    result = run_component("webapp", tmp_path, HIREFLOW_ENGINE_TIMEOUT_SECONDS="ten")
    assert result.returncode == 2
    assert "webapp not started: HIREFLOW_ENGINE_TIMEOUT_SECONDS='ten' is not a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_run_refuses_a_bad_engine_start_timeout_before_anything_starts(tmp_path):
    result = run_component("hireflow.run", tmp_path, HIREFLOW_ENGINE_START_TIMEOUT="soon")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "HIREFLOW_ENGINE_START_TIMEOUT='soon' is not a number. Nothing was started." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("component", "setting", "message"),
    [
        ("payment sandbox", "PAYMENT_SETTLE_AFTER_SECONDS", "is not a number"),
        ("worker pool", "HIREFLOW_WORKER_PROCESSES", "is not a whole number"),
        ("worker process", "HIREFLOW_WORKER_MAX_JOBS", "is not a whole number"),
        ("worker's adapters", "HIREFLOW_PARSER_MEMORY_MB", "is not a whole number"),
        ("webapp server", "HIREFLOW_WEB_THREADS", "is not a whole number"),
        ("webapp", "HIREFLOW_ENGINE_TIMEOUT_SECONDS", "is not a number"),
    ],
)
def test_make_run_reads_every_components_settings_before_the_engine_starts(component, setting, message):
    """The engine may take minutes to start; a component refusing its setting after that
    stopped everything again, so ``make run`` reads them all first."""
    env = component_environment({setting: "lots"})
    with pytest.raises(SettingError, match=re.escape(f"{setting}='lots' {message}")):
        check_component_settings(env)
    check_component_settings(component_environment())  # the local defaults are fine


def test_make_run_names_a_components_bad_setting_and_starts_nothing(tmp_path):
    result = run_component("hireflow.run", tmp_path, HIREFLOW_WEB_THREADS="many")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "HIREFLOW_WEB_THREADS='many' is not a whole number. Nothing was started." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_the_payment_sandbox_refuses_its_bad_setting_in_one_line(tmp_path):
    result = run_component(
        "hireflow.sandboxes.payments",
        tmp_path,
        PAYMENT_WEBHOOK_URL="http://127.0.0.1:5000/webhooks/payments",  # read only with webhooks on
        PAYMENT_SETTLE_AFTER_SECONDS="soon",
    )
    assert result.returncode == 2
    assert "payment sandbox not started: PAYMENT_SETTLE_AFTER_SECONDS='soon' is not a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_engine_start_timeout_is_read_when_an_engine_starts_not_on_import():
    """Every tool imports hireflow.engine; a bad value must not break those that never start one."""
    result = subprocess.run(
        [sys.executable, "-m", "hireflow.engine", "java"],
        env={**os.environ, "HIREFLOW_ENGINE_START_TIMEOUT": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert start_timeout({}) == 420.0
    with pytest.raises(SettingError, match="HIREFLOW_ENGINE_START_TIMEOUT=0 is below its minimum, 1"):
        start_timeout({"HIREFLOW_ENGINE_START_TIMEOUT": "0"})


@pytest.mark.parametrize("module", ["webapp", "job_workers.worker"])
def test_a_database_that_cannot_be_used_is_named_in_one_line_not_a_traceback(module, tmp_path):
    """A file that is not a database, or a server that is down: the webapp and a worker
    process printed a traceback per process before."""
    not_a_database = tmp_path / "hireflow.sqlite3"
    not_a_database.write_text("garbage, not SQLite")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    result = run_component(
        module, tmp_path, HIREFLOW_DATABASE_URL=f"sqlite:///{not_a_database}", TMPDIR=str(temporary)
    )
    assert result.returncode == 1  # not the code for bad settings: the pool tries again
    assert not list(temporary.iterdir())  # the webapp's metrics folder is gone with it
    assert (
        f"not started: the domain database sqlite:///{not_a_database} cannot be used: file is not a database"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_a_database_servers_password_stays_out_of_the_message(tmp_path):
    url = f"postgresql+psycopg://hireflow:s3cret-pw@127.0.0.1:{free_port()}/hireflow"
    result = run_component("webapp", tmp_path, HIREFLOW_DATABASE_URL=url)
    assert result.returncode == 1
    assert (
        "webapp not started: the domain database postgresql+psycopg://hireflow:***@127.0.0.1:"
        in result.stderr
    )
    assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("not a url", "HIREFLOW_DATABASE_URL is not a database URL"),
        ("postgresql://hireflow:s3cret-pw@db:port/hireflow", "HIREFLOW_DATABASE_URL is not a database URL"),
        ("mysql://hireflow:s3cret-pw@db/hireflow", "HIREFLOW_DATABASE_URL names a mysql database"),
        ("postgresql+pg8000://hireflow:s3cret-pw@db/hireflow", "asks for the pg8000 driver"),
    ],
)
def test_a_database_url_hireflow_cannot_use_is_a_bad_setting(url, said):
    with pytest.raises(SettingError, match=said) as refused:
        checked_database_url(url)
    assert "s3cret-pw" not in str(refused.value)


@pytest.mark.parametrize(
    ("module", "code"), [("webapp", 2), ("job_workers.worker", 78), ("hireflow.seed", 2)]
)
def test_a_database_url_hireflow_cannot_use_stops_each_program_in_one_line(module, code, tmp_path):
    # It was a traceback from SQLAlchemy (or from the missing MySQL driver) in each process.
    result = run_component(module, tmp_path, HIREFLOW_DATABASE_URL="mysql://hireflow:s3cret-pw@db/hireflow")
    assert result.returncode == code  # a bad setting: the pool stops instead of restarting
    assert "names a mysql database" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr
