"""kiln.logging: levels mapped onto the engine logger, the context manager, the progress bar."""

import logging
import os

import pytest
import torch

import kiln
from kiln import _native


@pytest.fixture(autouse=True)
def restore_level():
    before = kiln.logging.get_level()
    env = os.environ.get("KILN_LOG_LEVEL")
    yield
    kiln.logging.set_level(before)
    kiln.logging.set_progress_bar(None)
    if env is None:
        os.environ.pop("KILN_LOG_LEVEL", None)
    else:
        os.environ["KILN_LOG_LEVEL"] = env


def test_levels_map_onto_the_engine():
    for lv, engine, env in (
        (kiln.logging.ERROR, 0, "error"),
        (kiln.logging.WARNING, 1, "warning"),
        (kiln.logging.INFO, 2, "info"),
        (kiln.logging.DEBUG, 3, "verbose"),
    ):
        kiln.logging.set_level(lv)
        assert kiln.logging.get_level() == lv
        assert _native.C.get_log_level() == engine
        assert os.environ["KILN_LOG_LEVEL"] == env
    kiln.logging.set_level("info")
    assert kiln.logging.get_level() == logging.INFO
    with pytest.raises(ValueError, match="level"):
        kiln.logging.set_level("loud")
    with pytest.raises(TypeError):
        kiln.logging.set_level(2.5)


def test_context_manager_restores():
    kiln.logging.set_level(kiln.logging.WARNING)
    with kiln.logging.debug():
        assert kiln.logging.get_level() == kiln.logging.DEBUG and _native.C.get_log_level() == 3
        with kiln.logging.errors():
            assert _native.C.get_log_level() == 0
        assert _native.C.get_log_level() == 3
    assert kiln.logging.get_level() == kiln.logging.WARNING and _native.C.get_log_level() == 1


def test_engine_messages_reach_python_logging(caplog, mlp):
    with caplog.at_level(logging.DEBUG, logger="kiln"), kiln.logging.level(kiln.logging.DEBUG):
        kiln.compile(mlp, inputs=[torch.randn(2, 16)])
    msgs = [r.getMessage() for r in caplog.records if r.name == "kiln"]
    assert any("[builder]" in m for m in msgs), msgs  # from the C++ builder, through kiln._C's logger
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="kiln"), kiln.logging.errors():
        kiln.compile(mlp, inputs=[torch.randn(2, 16)])
    assert not [r for r in caplog.records if r.name == "kiln" and r.levelno < logging.ERROR]


def test_progress_bar_line(capsys, mlp):
    kiln.logging.set_progress_bar(True)
    kiln.compile(mlp, inputs=[torch.randn(2, 16)])
    err = capsys.readouterr().err
    assert "building engine 1/1: kiln_engine_0 (" in err and "done: kiln_engine_0" in err


def test_progress_callback_counts(mlp, monkeypatch):
    import contextlib

    from kiln.dynamo import _compiler

    calls = []

    @contextlib.contextmanager
    def spy(what="build"):
        yield lambda i, n, name: calls.append((i, n, name))

    monkeypatch.setattr(_compiler._progress, "engine_builds", spy)
    kiln.compile(mlp, inputs=[torch.randn(2, 16)], torch_executed_ops={"aten::relu"}, min_block_size=1)
    assert calls[0][:2] == (0, 3) and calls[0][2].startswith("kiln_engine_0 (") and calls[-1][:2] == (3, 3)
