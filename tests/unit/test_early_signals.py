"""EarlySignals: until the loop takes over, signals are remembered instead of killing the process."""

import logging
import os
import signal

from casino_tui.early_signals import EarlySignals


def test_a_stop_signal_is_remembered_and_handed_over():
    with EarlySignals() as early:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert early.hand_over() is signal.SIGTERM  # the first one decides


def test_control_signals_are_ignored_and_said_so_at_hand_over(caplog):
    with EarlySignals() as early:
        os.kill(os.getpid(), signal.SIGUSR1)
        with caplog.at_level(logging.WARNING, logger="casino.signals"):
            assert early.hand_over() is None
    assert "SIGUSR1 arrived during start-up: ignored" in caplog.text


def test_the_previous_handlers_come_back_on_exit():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    with EarlySignals():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before
