"""Config: the embedded default loads, environment overrides apply, bad files name key and reason."""

import pytest

from smsengine.config import ConfigError, load


def test_default_config_is_the_documented_demo():
    config = load(environ={})
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)
    assert [c.name for c in config.carriers] == ["ideal", "realistic", "flaky"]
    assert [c.port for c in config.carriers] == [2775, 2776, 2777]
    demo = config.accounts[0]
    assert (demo.app_id, demo.key, demo.type, demo.raw_content) == ("demo", "demo-secret", "organisation", True)
    assert demo.templates[0].id == 1
    assert demo.templates[0].text == "Your verification code is {1}, valid for {2} minutes."
    assert [s.name for s in demo.signatures] == ["smsengine"]


def test_environment_overrides():
    config = load(environ={
        "SMSENGINE_HTTP__PORT": "9090",
        "SMSENGINE_STORE__PATH": "/tmp/x.db",
        "SMSENGINE_SIMULATORS__EMBEDDED": "false",
        "SMSENGINE_ROUTES": '[{prefix="+", targets=[{carrier="realistic"}]}]',
    })
    assert config.http.port == 9090
    assert config.store.path == "/tmp/x.db"
    assert config.simulators.embedded is False
    assert config.routes[0].targets[0].carrier == "realistic"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[http]\nport = 'eighty'\n", "$.http.port"),
        ("[http]\nprot = 80\n", "prot"),
        ("[[carriers]]\nname='a'\n[[routes]]\nprefix='+'\ntargets=[{carrier='b'}]\n", "unknown carrier 'b'"),
        ("[[carriers]]\nname='a'\nwindow=0\n", "window"),
        ("not toml at all = = =", "not valid TOML"),
        ("[store]\nwriter_nice = 20\n", "store.writer_nice must be 0 to 19"),
        ("[store]\nwriter_nice = -1\n", "store.writer_nice must be 0 to 19"),
        # values that reach the store are bounded where they enter
        ("[[accounts]]\napp_id='a'\nkey='k'\nbalance=10000000000000000\n", "$.accounts[0].balance"),
        ("[[accounts]]\napp_id='a'\nkey='k'\nutc_offset_minutes=100000\n", "$.accounts[0].utc_offset_minutes"),
        ("[[accounts]]\napp_id='a'\nkey='k'\ntemplates=[{id=0, text='x {1}'}]\n", "$.accounts[0].templates[0].id"),
        # a carrier's default TLVs: the send API's bounds, distinct tags
        ("[[carriers]]\nname='a'\ntlvs=[{tag=0x0424, value_hex='00'}]\n", "$.carriers[0].tlvs[0].tag"),
        ("[[carriers]]\nname='a'\ntlvs=[{tag=0x1400, value_hex='xy'}]\n", "$.carriers[0].tlvs[0].value_hex"),
        ("[[carriers]]\nname='a'\ntlvs=[{tag=0x1400, value_hex='01'}, {tag=0x1400, value_hex='02'}]\n",
         "carriers[a].tlvs[1]: tag 0x1400 given twice"),
    ],
)
def test_bad_config_names_the_key_and_reason(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(path, environ={})
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


def test_bad_environment_value_is_reported():
    with pytest.raises(ConfigError) as err:
        load(environ={"SMSENGINE_HTTP__PORT": "eighty"})
    assert "$.http.port" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "absent.toml", environ={})


@pytest.mark.parametrize("section, field, value", [
    *(("callbacks", f, v) for f, v in [("batch", "0"), ("concurrency", "0"), ("memory_rows", "-5"), ("timeout_s", "0.0"),
                                       ("max_backoff_s", "-1.0"), ("cursor_every_s", "0"), ("poll_s", "0.0")]),
    *(("console", f, v) for f, v in [("session_idle_s", "0"), ("max_sessions", "0"), ("signin_burst", "-1")]),
])
def test_section_values_must_be_positive(tmp_path, section, field, value):
    path = tmp_path / "bad.toml"
    path.write_text(f"[{section}]\n{field} = {value}\n")
    with pytest.raises(ConfigError) as err:
        load(path, environ={})
    assert section in str(err.value) and field in str(err.value)


def test_callbacks_settings_are_read(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("[callbacks]\nbatch = 50\nconcurrency = 2\nmemory_rows = 500\ncursor_every_s = 0.25\n")
    cb = load(path, environ={"SMSENGINE_CALLBACKS__TIMEOUT_S": "2.5"}).callbacks
    assert (cb.batch, cb.concurrency, cb.memory_rows, cb.cursor_every_s, cb.timeout_s) == (50, 2, 500, 0.25, 2.5)
    assert (cb.max_backoff_s, cb.poll_s) == (60.0, 1.0)  # the defaults for what is not given


