"""Pyro5 microscope server and client over loopback: round trip, security, faults, reconnect."""

from __future__ import annotations

import logging
import socket
import time

import numpy as np
import pytest
import serpent

from steerscope.data import SpectrumImage
from steerscope.errors import InstrumentError, SafetyLimitError
from steerscope.instruments import FaultPlan, SimulatedMicroscope
from steerscope.instruments.client import RemoteMicroscope, error_class
from steerscope.instruments.faults import InstrumentDisconnectedError, InstrumentTimeoutError
from steerscope.instruments.safety import SafetyLimits
from steerscope.instruments.server import (
    MicroscopeServer,
    check_exposure,
    is_loopback,
    serve,
    serve_from_cli,
)
from steerscope.instruments.wire import (
    decode_array,
    decode_measurement,
    encode_array,
    encode_measurement,
)
from steerscope.types import EnergyAxis, SignalKind

pytestmark = pytest.mark.timeout(60)

TOKEN = "correct-horse-battery-staple"
N_CHANNELS = 2048


def _image(height: int = 6, width: int = 10) -> SpectrumImage:
    overview = np.arange(height * width, dtype=np.float32).reshape(height, width)
    spectra = np.zeros((height, width, N_CHANNELS))
    # channel 0 holds 1000*row + col, so each spectrum says where it came from
    spectra[:, :, 0] = 1000 * np.arange(height)[:, None] + np.arange(width)[None, :]
    spectra[:, :, 1:] = 1.5
    energy = EnergyAxis(size=N_CHANNELS, offset=-20.0, scale=0.25, units="eV")
    return SpectrumImage(overview, spectra, energy, SignalKind.EELS, pixel_size=0.5)


@pytest.fixture
def sim() -> SimulatedMicroscope:
    return SimulatedMicroscope(_image(), dwell_time_s=0.02)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_round_trip_overview_acquire_describe(sim: SimulatedMicroscope) -> None:
    with MicroscopeServer(sim) as server, RemoteMicroscope(server.uri, timeout_s=5) as remote:
        assert server.uri.startswith("PYRO:steerscope.microscope@127.0.0.1:")
        ov = remote.overview()
        assert ov.image.shape == (6, 10)
        assert ov.image.dtype == np.float32
        assert ov.image[2, 3] == 23.0
        assert ov.pixel_size == 0.5 and ov.pixel_units == "nm"

        points = np.array([[0, 0], [2, 7], [5, 9]])
        m = remote.acquire(points)
        assert m.spectra.shape == (3, N_CHANNELS)
        np.testing.assert_array_equal(m.points, points)
        # (row, col) order survives the trip: channel 0 encodes 1000*row + col
        np.testing.assert_array_equal(m.spectra[:, 0], [0.0, 2007.0, 5009.0])
        assert m.energy == EnergyAxis(N_CHANNELS, -20.0, 0.25, "eV")
        assert m.signal_kind is SignalKind.EELS
        assert m.dwell_time_s == 0.02
        assert m.acquired_at.shape == (3,)

        desc = remote.describe()
        assert desc["driver"] == "simulator"
        assert desc["n_acquired"] == 3
        assert desc["server"]["read_only"] is False
        assert desc["remote"]["uri"] == server.uri
        assert remote.ping()["protocol"] == "steerscope-wire/1"


def test_driver_errors_come_back_as_steerscope_errors(sim: SimulatedMicroscope) -> None:
    limits = SafetyLimits(max_acquisitions=2)
    with MicroscopeServer(sim, limits=limits) as server:
        remote = RemoteMicroscope(server.uri, timeout_s=5, retries=0)
        remote.overview()
        with pytest.raises(SafetyLimitError, match="field of view: point \\(row=6, col=0\\)"):
            remote.acquire([[6, 0]])
        remote.acquire([[1, 1], [1, 2]])
        with pytest.raises(SafetyLimitError, match="max_acquisitions: 2 spectra acquired"):
            remote.acquire([[1, 3]])
        with pytest.raises(InstrumentError, match="shape \\(n, 2\\)"):
            remote.acquire([1, 2, 3])
        remote.close()


def test_non_loopback_without_token_is_refused_before_binding(
    sim: SimulatedMicroscope, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEERSCOPE_TOKEN", raising=False)

    def no_bind(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must refuse before it binds")

    monkeypatch.setattr("steerscope.instruments.server.TokenDaemon.__init__", no_bind)
    for host in ("0.0.0.0", "192.168.1.20", "microscope-pc.lab"):
        with pytest.raises(InstrumentError, match=r"without a token.*--token.*STEERSCOPE_TOKEN"):
            MicroscopeServer(sim, host=host)
    with pytest.raises(InstrumentError, match="without a token"):
        serve(sim, host="0.0.0.0", block=False)
    # the CLI entry refuses before it even builds the driver
    with pytest.raises(InstrumentError, match="without a token"):
        serve_from_cli("autoscript", host="10.0.0.5")
    with pytest.raises(InstrumentError, match="at least 12 characters"):
        check_exposure("0.0.0.0", "short")
    for weak in ("aaaaaaaaaaaa", " " * 12, "abababababab"):  # long enough, easy to guess
        with pytest.raises(InstrumentError, match="too easy to guess"):
            check_exposure("0.0.0.0", weak)
    assert check_exposure("0.0.0.0", TOKEN) == TOKEN
    monkeypatch.setenv("STEERSCOPE_TOKEN", TOKEN)
    assert check_exposure("0.0.0.0", None) == TOKEN


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.3.2.1")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.1.2.3")
    assert not is_loopback("scope.example.org")


def test_wrong_or_missing_token_is_rejected(
    sim: SimulatedMicroscope, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEERSCOPE_TOKEN", raising=False)
    with MicroscopeServer(sim, token=TOKEN) as server:
        with caplog.at_level(logging.WARNING, logger="steerscope.instruments.server"):
            wrong = RemoteMicroscope(server.uri, token="not-the-right-token", retries=2)
            with pytest.raises(InstrumentError, match="rejected the token"):
                wrong.describe()
            assert server._daemon._refusals["127.0.0.1"][0] == 1  # a wrong token: no retry
            with pytest.raises(InstrumentError, match="rejected the token"):
                RemoteMicroscope(server.uri, retries=0).overview()
        assert any("wrong or missing token" in r.message for r in caplog.records)
        right = RemoteMicroscope(server.uri, token=TOKEN)
        assert right.overview().image.shape == (6, 10)
        right.close()


def test_read_only_serves_overview_but_refuses_acquire(sim: SimulatedMicroscope) -> None:
    with MicroscopeServer(sim, read_only=True) as server:
        remote = RemoteMicroscope(server.uri, retries=0)
        assert remote.overview().image.shape == (6, 10)
        assert remote.describe()["server"]["read_only"] is True
        with pytest.raises(InstrumentError, match=r"read-only.*refuses acquire"):
            remote.acquire([[0, 0]])
        remote.close()
    assert sim.n_acquired == 0


def test_non_serpent_serializer_is_refused(sim: SimulatedMicroscope) -> None:
    import Pyro5.api

    with MicroscopeServer(sim) as server:
        proxy = Pyro5.api.Proxy(server.uri)
        proxy._pyroSerializer = "json"
        with pytest.raises(Pyro5.errors.CommunicationError, match="only the serpent serializer"):
            proxy.describe()  # refused at the handshake, before the message is decoded
        proxy._pyroRelease()


def test_server_gone_then_back_on_same_port(sim: SimulatedMicroscope) -> None:
    port = _free_port()
    server = MicroscopeServer(sim, port=port).start_in_thread()
    remote = RemoteMicroscope(server.uri, timeout_s=2, retries=2, backoff_s=0.05)
    assert remote.acquire([[1, 1]]).spectra.shape == (1, N_CHANNELS)
    server.shutdown()

    with pytest.raises(InstrumentError, match="connection refused; is `steerscope serve` running"):
        remote.acquire([[1, 2]])
    # the retries are counted in the message (a wall-clock bound failed on a loaded machine)
    with pytest.raises(InstrumentDisconnectedError, match="gave up after 3 attempts"):
        remote.describe()

    restarted = MicroscopeServer(sim, port=port).start_in_thread()
    try:
        m = remote.acquire([[3, 4]])  # reconnects by itself
        assert m.spectra[0, 0] == 3004.0
    finally:
        remote.close()
        restarted.shutdown()


def test_client_retries_through_a_restart_during_backoff(sim: SimulatedMicroscope) -> None:
    import threading

    port = _free_port()
    remote = RemoteMicroscope(
        f"PYRO:steerscope.microscope@127.0.0.1:{port}", timeout_s=2, retries=4, backoff_s=0.1
    )
    holder: dict[str, MicroscopeServer] = {}

    def start_later() -> None:
        time.sleep(0.2)
        holder["server"] = MicroscopeServer(sim, port=port).start_in_thread()

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        assert remote.acquire([[0, 5]]).spectra[0, 0] == 5.0
    finally:
        thread.join()
        remote.close()
        holder["server"].shutdown()


def test_transient_driver_fault_is_retried_and_persistent_one_raised() -> None:
    flaky = SimulatedMicroscope(_image(), faults=FaultPlan(timeout_on_calls={1}, fail_times=2))
    with MicroscopeServer(flaky) as server:
        remote = RemoteMicroscope(server.uri, retries=3, backoff_s=0.01)
        assert remote.acquire([[1, 1]]).spectra.shape == (1, N_CHANNELS)
        assert flaky.n_faults == 2
        remote.close()
    broken = SimulatedMicroscope(
        _image(), faults=FaultPlan(disconnect_on_calls={1}, fail_times=None)
    )
    with MicroscopeServer(broken) as server:
        remote = RemoteMicroscope(server.uri, retries=2, backoff_s=0.01)
        with pytest.raises(InstrumentDisconnectedError, match="gave up after 3 attempts"):
            remote.acquire([[1, 1]])
        remote.close()
    assert broken.n_faults == 3


def test_call_timeout_raises_instrument_timeout() -> None:
    slow = SimulatedMicroscope(_image(), acquisition_delay_s=0.5)
    with MicroscopeServer(slow) as server:
        remote = RemoteMicroscope(server.uri, timeout_s=0.1, retries=1, backoff_s=0.01)
        with pytest.raises(InstrumentTimeoutError, match=r"did not answer within 0\.1 s"):
            remote.acquire([[0, 0]])
        remote.close()


def test_client_argument_checks() -> None:
    with pytest.raises(InstrumentError, match="not a microscope server address"):
        RemoteMicroscope("http://127.0.0.1:9097")
    with pytest.raises(InstrumentError, match="timeout_s must be > 0"):
        RemoteMicroscope("PYRO:x@127.0.0.1:1", timeout_s=0)
    with pytest.raises(InstrumentError, match="retries must be >= 0"):
        RemoteMicroscope("PYRO:x@127.0.0.1:1", retries=-1)


def test_error_class_only_maps_steerscope_errors() -> None:
    assert error_class("SafetyLimitError") is SafetyLimitError
    assert error_class("InstrumentTimeoutError") is InstrumentTimeoutError
    assert error_class("SystemExit") is InstrumentError
    assert error_class("os") is InstrumentError


def test_wire_round_trip_through_serpent() -> None:
    arr = np.arange(12, dtype=">f8").reshape(3, 4)
    sent = serpent.loads(serpent.dumps(encode_array(arr)))
    assert isinstance(sent["data"], dict)  # serpent turned the bytes into base64
    back = decode_array(sent)
    np.testing.assert_array_equal(back, arr)
    assert back.flags.writeable
    bad = dict(sent, shape=[5, 4])
    with pytest.raises(InstrumentError, match="need 160"):
        decode_array(bad)
    with pytest.raises(InstrumentError, match="only numeric arrays"):
        encode_array(np.array(["a"], dtype=object))

    from steerscope.instruments.base import Measurement

    m = Measurement(
        points=np.array([[1, 2]]),
        spectra=np.ones((1, 4), dtype=np.float32),
        energy=EnergyAxis(4, 1.0, 0.01, "keV"),
        signal_kind=SignalKind.EDX,
        acquired_at=np.array([1.5]),
        dwell_time_s=2.0,
        metadata={"current": np.float32(0.5), "shape": (1, 2)},
    )
    back_m = decode_measurement(serpent.loads(serpent.dumps(encode_measurement(m))))
    assert back_m.energy == m.energy and back_m.signal_kind is SignalKind.EDX
    assert back_m.metadata == {"current": 0.5, "shape": [1, 2]}
    payload = encode_measurement(m)
    payload["points_order"] = "x_y"
    with pytest.raises(InstrumentError, match="expects 'row_col'"):
        decode_measurement(payload)


def test_wrong_tokens_are_answered_ever_slower_and_logged_without_flooding(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A guesser waits longer after each refusal; the log says so once per interval."""
    import Pyro5.errors

    from steerscope.instruments.server import REFUSAL_BACKOFF_S, TokenDaemon

    waits: list[float] = []

    class Peer:
        class sock:  # stands in for the connection's socket
            @staticmethod
            def getpeername() -> tuple[str, int]:
                return ("10.0.0.9", 50000)

    daemon = TokenDaemon(host="127.0.0.1", port=0, token=TOKEN, sleep=waits.append)
    try:
        with caplog.at_level(logging.WARNING, logger="steerscope.instruments.server"):
            for _ in range(8):
                with pytest.raises(Pyro5.errors.SecurityError):
                    daemon.validateHandshake(Peer(), "guess-" + "x" * 10)
        first, longest = REFUSAL_BACKOFF_S
        assert waits[:3] == [first, 2 * first, 4 * first] and waits[-1] == longest
        lines = [r.message for r in caplog.records if "wrong or missing token" in r.message]
        assert lines == ["refused a connection from 10.0.0.9: wrong or missing token"]
        assert daemon.validateHandshake(Peer(), TOKEN) == "hello"  # the right one still works
        assert "10.0.0.9" not in daemon._refusals  # and ends the waiting for that address
    finally:
        daemon.close()


def _connect_message(serializer_id: int, payload: bytes, *, claimed: int | None = None) -> bytes:
    """A raw Pyro5 connect message; ``claimed`` lies about the payload size in the header."""
    import struct

    from Pyro5 import protocol

    message = protocol.SendingMessage(protocol.MSG_CONNECT, 0, 1, serializer_id, payload)
    data = bytearray(message.data)
    if claimed is not None:  # the header's data_size field (after tag, version, type, ...)
        fields = list(struct.unpack(protocol._header_format, bytes(data[: protocol._header_size])))
        fields[6] = claimed
        data[: protocol._header_size] = struct.pack(protocol._header_format, *fields)
    return bytes(data)


def test_the_server_survives_hostile_connections_before_login(
    sim: SimulatedMicroscope, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Malformed, oversized, foreign-serializer, truncated and idle connect attempts (#13 1-2)."""
    import resource

    import Pyro5.serializers

    import steerscope.instruments.server as server_module

    monkeypatch.setattr(server_module, "HANDSHAKE_TIMEOUT_S", 0.5)
    marshal = Pyro5.serializers.MarshalSerializer.serializer_id
    serpent = Pyro5.serializers.SerpentSerializer.serializer_id
    attacks = [
        _connect_message(marshal, b"\xff" * 45),  # marshal: refused unread
        _connect_message(serpent, b"x" * 10, claimed=300 * 1024 * 1024),  # 300 MB claimed
        _connect_message(serpent, b"{'handshake': None, 'object': 'x'"),  # broken serpent
        _connect_message(serpent, b"x" * 100)[:50],  # cut short
        b"GET / HTTP/1.1\r\n\r\n",  # not Pyro at all
        b"",  # connects and says nothing
    ]
    with MicroscopeServer(sim, token=TOKEN) as server:
        host, port = server.uri.split("@")[1].rsplit(":", 1)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        idle = []
        for attack in attacks * 5:
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(attack)
            idle.append(sock)  # kept open: idle or half-sent connections hold no worker long
        good = RemoteMicroscope(server.uri, token=TOKEN, timeout_s=10, retries=1)
        assert good.overview().image.shape == (6, 10)  # a good client is still served
        good.close()
        for sock in idle:
            sock.close()
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        assert grown_kib < 200 * 1024, f"the server grew by {grown_kib} KiB"
