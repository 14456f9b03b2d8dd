import pytest

from bot.settings import Settings, SettingsError

VARS = ("DISCORD_TOKEN", "DISCORD_GUILD_ID", "BOT_ADMIN_ROLE_IDS", "BOT_ADMIN_USER_IDS", "GENERATION_WORKERS",
        "BOT_USER_BURST", "BOT_USER_RATE", "CHECKPOINT_DIR", "BOT_MAX_BATCH", "BOT_HISTORY_DAYS",
        "BOT_HISTORY_MAX_ROWS", "BOT_QUEUE_DEPTH", "BOT_BLAS_THREADS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_token():
    s = Settings.from_env(load_dotenv_file=False)
    assert s.discord_token is None and s.guild_id is None and s.generation_workers >= 1
    assert (s.max_batch, s.history_days, s.history_max_rows, s.queue_depth) == (32, 30.0, 100_000, 64)


def test_values_are_parsed(monkeypatch, tmp_path):
    monkeypatch.setenv("DISCORD_TOKEN", "x" * 30)
    monkeypatch.setenv("DISCORD_GUILD_ID", "1234")
    monkeypatch.setenv("BOT_ADMIN_ROLE_IDS", "1, 2,3")
    monkeypatch.setenv("GENERATION_WORKERS", "3")
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("BOT_MAX_BATCH", "0")
    monkeypatch.setenv("BOT_HISTORY_DAYS", "7.5")
    monkeypatch.setenv("BOT_BLAS_THREADS", "0")
    s = Settings.from_env(load_dotenv_file=False)
    assert s.max_batch == 0 and s.history_days == 7.5 and s.blas_threads == 0
    assert s.guild_id == 1234 and s.admin_role_ids == {1, 2, 3} and s.generation_workers == 3
    assert s.checkpoint_dir == tmp_path
    assert "x" * 30 not in repr(s)  # the token never shows up


@pytest.mark.parametrize("name, value", [("DISCORD_GUILD_ID", "abc"), ("BOT_ADMIN_USER_IDS", "1,two"),
                                         ("GENERATION_WORKERS", "0"), ("GENERATION_WORKERS", "many"),
                                         ("BOT_USER_BURST", "-1"), ("BOT_USER_RATE", "0"), ("DISCORD_TOKEN", "short"),
                                         ("BOT_MAX_BATCH", "-1"), ("BOT_HISTORY_DAYS", "0"),
                                         ("BOT_HISTORY_MAX_ROWS", "many"), ("BOT_BLAS_THREADS", "-1")])
def test_malformed_settings_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(load_dotenv_file=False)


def test_startup_stops_with_one_line_naming_the_setting(monkeypatch, capsys):
    from bot.app import main

    monkeypatch.setenv("GENERATION_WORKERS", "0")
    assert main(["--console"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GENERATION_WORKERS" in err[0]


def test_console_main_answers_piped_commands_without_cooldown(monkeypatch, capsys, tmp_path):
    import io
    import sys

    from bot.app import main

    monkeypatch.setenv("BOT_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "stdin", io.StringIO('/lyrics seed:"Yeah, oho" length:50\n/lyrics seed:"Again" length:50\n'))
    assert main([]) == 0
    out = capsys.readouterr()
    assert "using the local console" in out.err
    assert out.out.startswith("Yeah, oho") and "\nAgain" in out.out and "Slow down" not in out.out


def test_blas_threads_are_limited_while_serving_and_restored_after():
    from threadpoolctl import threadpool_info  # (numpy, whose BLAS is limited, is loaded by the bot)

    from bot.app import limit_blas_threads

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    with limit_blas_threads(1):
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before
    with limit_blas_threads(0):  # 0: the library's own default, untouched
        assert blas_threads() == before
