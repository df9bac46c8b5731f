"""Hostile and malformed input on every topic the controller reads, and garbage on serial lines.

Two levels:
- in process, many examples: ``Controller.apply_batch`` on a real SQLite store, its ``publish``
  replaced by a recorder. Every bad request gets exactly one reply with a clear rejection code,
  and the hall state and ``seq`` are byte-for-byte what they were.
- through a real Mosquitto and a ``hallq controller`` process: a few batches of hostile payloads,
  each answered once, then one consistency check (nothing changed, the hall still serves).

Replays and forged ids: a request id seen again (by the same device) gets the identical reply
and changes nothing, whatever the arguments of the replay say; the same id from another device
is that device's own request, never a way to read or redo someone else's.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hallq.runtime.config import SignConfig, load_config
from hallq.controller.service import Controller
from hallq.controller.main import open_controller
from hallq.errors import DeviceFault
from hallq.runtime.mqttlink import Inbound
from hallq.contract.topics import Topics
from hallq.contract.ops import OPS
from hallq.hardware.signs import Sign, SignView
from hallq.printer.status import CONDITIONS, is_status_byte, query_status
from hallq.testing import EXAMPLE_HALL, WAIT_S, Broker, RecordingLink, TestClient, request_message

R = "hallq/v1/h1"
T = Topics("h1")
KINDS = ("kiosk.k1", "counter.c1", "display.d1", "admin.ctl")
REJECTIONS = {"bad_request", "unknown_op", "not_allowed"}
SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture]


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=SUPPRESS)


# --- strategies ------------------------------------------------------------------------------
json_scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
not_a_string = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.lists(json_scalars, max_size=3) | st.dictionaries(st.text(max_size=5), json_scalars, max_size=3)
bad_request_ids = not_a_string | st.just("") | st.text(min_size=65, max_size=70).filter(lambda s: len(s) > 64)
valid_request_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=64)
# > 64 KiB once encoded (the controller refuses it) but under Mosquitto's max_packet_size (256 KiB)
huge_text = st.integers(22_000, 80_000).map(lambda n: "界" * n)
unknown_ops = st.text(max_size=70).filter(lambda s: s not in OPS)


def deep(depth: int, inner: str = "[]") -> str:
    return "[" * depth + inner + "]" * depth


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


# Each case: (device id on the topic, payload bytes, the rejection codes acceptable for it).
# Built so that none of them is a valid request: the oracle is the construction itself.
@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[str, bytes, set[str]]:
    device = draw(st.sampled_from(KINDS))
    kind = device.partition(".")[0]
    rid = draw(valid_request_ids)
    case = draw(st.integers(0, 12))
    if case == 0:       # not JSON at all, often not UTF-8
        payload = draw(st.binary(max_size=200).filter(lambda b: not _is_json(b)))
        return device, payload, {"bad_request"}
    if case == 1:       # invalid UTF-8 inside an otherwise fine request
        payload = b'{"op":"issue","request_id":"' + rid.encode() + b'","service":"p\xff\xfeay"}'
        return device, payload, {"bad_request"} if kind == "kiosk" else {"bad_request", "not_allowed"}
    if case == 2:       # JSON, but not an object
        value = draw(json_values.filter(lambda v: not isinstance(v, dict)))
        return device, encode(value), {"bad_request"}
    if case == 3:       # nested far too deep, at the top or inside an unknown field
        depth = draw(st.integers(2_000, 30_000))
        where = draw(st.booleans())
        body = deep(depth) if where else \
            '{"op":"issue","request_id":"%s","service":"pay","x":%s}' % (rid, deep(depth))
        return device, body.encode(), {"bad_request"}
    if case == 4:       # a payload over the size limit (a huge string)
        doc = {"op": "announce", "request_id": rid, "text": draw(huge_text)}
        return device, encode(doc), {"bad_request"}
    if case == 5:       # missing or mistyped request id
        doc: dict[str, Any] = {"op": draw(st.sampled_from(sorted(OPS)))}
        if draw(st.booleans()):
            doc["request_id"] = draw(bad_request_ids)
        return device, encode(doc), {"bad_request"}
    if case == 6:       # missing or mistyped op
        doc = {"request_id": rid}
        if draw(st.booleans()):
            doc["op"] = draw(not_a_string)
        return device, encode(doc), {"bad_request"}
    if case == 7:       # an op nobody knows
        return device, encode({"op": draw(unknown_ops), "request_id": rid, "service": "pay"}), {"unknown_op"}
    if case == 8:       # an op that is not for this kind of device
        op = draw(st.sampled_from(sorted(name for name, op in OPS.items() if kind not in op.kinds)))
        return device, encode({"op": op, "request_id": rid, "service": "pay", "text": "x", "active": True}), {"not_allowed"}
    if case == 9:       # the right op with wrongly typed or out-of-range arguments
        op, args = draw(_bad_args_for(kind))
        return device, encode({"op": op, "request_id": rid, **args}), _arg_error(kind)
    if case == 10:      # an id that is not a device of this hall (or no device kind at all)
        stranger = draw(st.sampled_from(["kiosk.k9", "counter.zz", "display.", "printer.p1", "controller",
                                         "kiosk.k1.x", "admin.BAD ID"]))
        return stranger, encode({"op": "issue", "request_id": rid, "service": "pay"}), {"not_allowed"}
    if case == 12:      # a valid request but for invalid UTF-8 in a field nobody reads
        op, args = {"kiosk": ("issue", {"service": "pay"}), "counter": ("call_next", {}),
                    "admin": ("announce", {"text": "x"}), "display": ("issue", {"service": "pay"})}[kind]
        bad = draw(st.binary(min_size=1, max_size=4).filter(lambda b: not _is_utf8(b)))
        return device, encode({"op": op, "request_id": rid, **args})[:-1] + b', "junk": "' + bad + b'"}', \
            {"bad_request", "not_allowed"} if kind == "display" else {"bad_request"}
    # case 11: unknown fields claiming another identity are ignored; the args are still wrong
    op, args = draw(_bad_args_for(kind))
    doc = {"op": op, "request_id": rid, "device": "admin.ctl", "by": "controller", "kind": "admin", **args}
    return device, encode(doc), _arg_error(kind)


def _arg_error(kind: str) -> set[str]:
    # a display has no op at all: its wrong arguments are never looked at
    return {"not_allowed"} if kind == "display" else {"bad_request"}


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
        return True
    except ValueError:
        return False


def _bad_args_for(kind: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(op, args) allowed for this kind of device, with at least one argument wrong."""
    choices: list[st.SearchStrategy[tuple[str, dict[str, Any]]]] = []
    non_str = not_a_string.filter(lambda v: v is not None)
    if kind == "kiosk":
        choices += [
            st.tuples(st.just("issue"), st.fixed_dictionaries({"service": not_a_string})),
            st.tuples(st.just("issue"), st.fixed_dictionaries(
                {"service": st.just("pay"), "priority": st.text(max_size=10).filter(lambda s: s not in ("normal", "priority"))
                 | non_str})),
            st.tuples(st.just("issue"), st.fixed_dictionaries({"service": st.text(min_size=201, max_size=300)})),
            st.tuples(st.just("lease"), st.fixed_dictionaries(
                {"service": st.just("pay"), "size": st.integers(max_value=0) | st.integers(min_value=201) | st.text(max_size=4)
                                            | st.lists(st.integers(), max_size=2)})),
            st.tuples(st.just("sync"), st.fixed_dictionaries(
                {"tickets": non_str.filter(lambda v: not isinstance(v, list))
                 | st.lists(st.fixed_dictionaries({"number": st.integers(), "service": st.just("pay")}), min_size=1, max_size=3)})),
            st.tuples(st.just("void"), st.fixed_dictionaries({"ticket_id": non_str})),
        ]
    elif kind == "counter":
        choices += [
            st.tuples(st.just("finish"), st.fixed_dictionaries(
                {"rating": st.integers(max_value=0) | st.integers(min_value=4) | st.text(max_size=3) | st.floats(allow_nan=False, allow_infinity=False)})),
            st.tuples(st.just("rate"), st.fixed_dictionaries({})),
            st.tuples(st.just("transfer"), st.fixed_dictionaries({"service": not_a_string})),
            st.tuples(st.just("login"), st.fixed_dictionaries({"clerk": non_str | st.just("") | st.text(min_size=65, max_size=80)})),
            st.tuples(st.just("suspend"), st.fixed_dictionaries({"reason": non_str})),
        ]
    elif kind == "admin":
        choices += [
            st.tuples(st.just("outage"), st.fixed_dictionaries({"active": st.text(max_size=5) | st.integers() | st.none()})),
            st.tuples(st.just("announce"), st.fixed_dictionaries({"text": non_str | st.just("") | st.text(min_size=501, max_size=600)})),
            st.tuples(st.just("suspend_service"), st.fixed_dictionaries({})),
            st.tuples(st.just("resume_service"), st.fixed_dictionaries({"service": non_str})),
        ]
    else:   # a display may send no op at all: every op is wrong for it, the args do not matter
        return st.tuples(st.sampled_from(sorted(OPS)), st.fixed_dictionaries({"service": not_a_string}))
    return st.one_of(choices)


# --- in process: Controller.apply_batch with a recording publish --------------------------------
class Recorder:
    """What the controller published since the last take, from its recording link."""

    def __init__(self, link: RecordingLink) -> None:
        self.link = link

    def take(self) -> list[tuple[str, bytes, bool]]:
        sent = list(self.link.published)
        self.link.published.clear()
        return sent


@pytest.fixture
def hall(tmp_path: Path):
    """A controller on a real store, not connected: what it would publish is recorded."""
    config = load_config(EXAMPLE_HALL)
    controller = open_controller(config, tmp_path / "data", link_factory=RecordingLink)
    controller.store.db.execute("PRAGMA synchronous=OFF")   # durability is not under test here: speed is
    recorder = Recorder(controller.link)
    controller.apply_batch([], tick=True)
    # some history, so that wrong changes would have something to change
    for i, (device, op, args) in enumerate([("kiosk.k1", "issue", {"service": "pay"}),
                                            ("kiosk.k2", "issue", {"service": "biz", "priority": "priority"}),
                                            ("kiosk.k1", "issue", {"service": "pay"}),
                                            ("counter.c1", "call_next", {})]):
        controller.apply_batch([request_message(device, op, f"setup-{i}", **args)])
    recorder.take()
    yield controller, recorder
    controller.store.close()


def fingerprint(controller: Controller) -> tuple[bytes, int, int]:
    rows = controller.store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return msgspec.json.encode(controller.state), controller.seq, rows


@pytest.mark.processes
def test_bad_requests_get_one_clear_rejection_and_change_nothing(hall, caplog) -> None:
    controller, recorder = hall
    seen_codes: set[str] = set()

    @fuzz_settings(1500)
    @given(bad_requests())
    def one(case: tuple[str, bytes, set[str]]) -> None:
        device, payload, expected = case
        before = fingerprint(controller)
        controller.apply_batch([Inbound(T.request(device), payload, False)])
        after = fingerprint(controller)
        sent = recorder.take()
        assert after == before, f"{payload[:120]!r} changed the hall"
        replies = [(t, json.loads(p)) for t, p, _ in sent if t == T.reply(device)]
        assert len(replies) == 1, f"{payload[:120]!r}: {len(replies)} replies"
        assert all(t == T.reply(device) for t, _, _ in sent), [t for t, _, _ in sent]
        reply = replies[0][1]
        assert reply["ok"] is False and reply["error"]["code"] in expected, (payload[:120], reply)
        assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
        seen_codes.add(reply["error"]["code"])

    one()
    assert seen_codes == REJECTIONS     # the generator really reached every kind of rejection
    assert not [r for r in caplog.records if r.levelno >= 40], [r.getMessage() for r in caplog.records if r.levelno >= 40][:5]


@st.composite
def traffic(draw: st.DrawFn) -> list[tuple[str, str, dict[str, Any]]]:
    """Valid and semantically wrong requests, request ids drawn from a tiny pool so that most
    are replays, some with different arguments than the first time (a forged replay)."""
    steps = []
    for _ in range(draw(st.integers(5, 40))):
        device = draw(st.sampled_from(["kiosk.k1", "kiosk.k2", "counter.c1", "counter.c2", "admin.ctl"]))
        rid = draw(st.sampled_from(["r1", "r2", "r3", "shared"]))
        kind = device.partition(".")[0]
        if kind == "kiosk":
            op, args = "issue", {"service": draw(st.sampled_from(["pay", "biz", "nope"]))}
        elif kind == "counter":
            op = draw(st.sampled_from(["call_next", "finish", "recall", "no_show", "suspend", "resume"]))
            args = {}
        else:
            op, args = draw(st.sampled_from([("announce", {"text": "hi"}), ("close", {}), ("open", {}),
                                             ("suspend_service", {"service": "pay"}),
                                             ("resume_service", {"service": "pay"})]))
        steps.append((device, op, {"rid": rid, **args}))
    return steps


@pytest.mark.processes
def test_replayed_and_forged_request_ids_are_answered_once_in_effect(hall) -> None:
    controller, recorder = hall

    @fuzz_settings(150)
    @given(traffic(), st.integers(0, 10**9))
    def one(steps: list[tuple[str, str, dict[str, Any]]], salt: int) -> None:
        first: dict[tuple[str, str], bytes] = {}
        for device, op, args in steps:
            rid = f"{args.pop('rid')}-{salt}"
            before = fingerprint(controller)
            controller.apply_batch([request_message(device, op, rid, **args)])
            sent = recorder.take()
            replies = [p for t, p, _ in sent if t == T.reply(device)]
            if not replies and op == "issue":
                # refused for speed and not answered (at most two refusals a second are): nothing changed
                assert fingerprint(controller) == before and not sent
                continue
            assert len(replies) == 1
            assert all(t in (T.reply(device), T.event, T.state) for t, _, _ in sent)
            doc = json.loads(replies[0])
            assert doc["request_id"] == rid
            key = (device, rid)
            if doc.get("error", {}).get("code") == "rate_limited":
                # refused for speed, not remembered: the same id later is a fresh attempt
                assert fingerprint(controller) == before
                continue
            if key in first:
                # the same id again: the identical reply, nothing changed, nothing announced
                assert replies[0] == first[key]
                assert fingerprint(controller) == before
                assert not [t for t, _, _ in sent if t in (T.event, T.state)]
            else:
                first[key] = replies[0]
                # an id another device used is not that device's reply
                for (other, other_rid), body in first.items():
                    if other_rid == rid and other != device and json.loads(body).get("ticket"):
                        assert doc.get("ticket") != json.loads(body)["ticket"] or not doc["ok"]

    one()


@pytest.mark.processes
def test_hostile_presence_and_status_never_crash_and_change_only_what_they_may(hall, caplog) -> None:
    controller, recorder = hall
    devices = st.sampled_from(["kiosk.k1", "counter.c2", "display.d1", "kiosk.k9", "controller", "x"])

    @fuzz_settings(600)
    @given(devices, st.sampled_from(["presence", "status"]),
           st.binary(max_size=300) | json_values.map(encode)
           | st.integers(5_000, 40_000).map(lambda n: deep(n).encode())
           | st.integers(5_000, 30_000).map(lambda n: ('{"online": true, "printer": %s}' % deep(n)).encode())
           | st.binary(min_size=1, max_size=4).filter(lambda b: not _is_utf8(b)).map(
               lambda b: b'{"online": true, "printer": "' + b + b'"}')
           | st.integers(4_097, 9_000).map(lambda n: encode({"printer": "x" * n})))
    def one(device: str, what: str, payload: bytes) -> None:
        topic = T.presence(device) if what == "presence" else T.status(device)
        before = fingerprint(controller)
        controller.apply_batch([Inbound(topic, payload, True)])
        sent = recorder.take()
        # no replies on these topics; only state/event if something legitimate changed
        assert all(t in (T.event, T.state) for t, _, _ in sent), [t for t, _, _ in sent]
        if fingerprint(controller) != before:
            assert controller.config.knows_device(device) and device != "controller"
            doc = json.loads(payload)
            assert isinstance(doc, dict) and len(payload) <= 4096
            if what == "presence":
                assert isinstance(doc.get("online"), bool)
            # what reached the state is flat: no nested structures from a device
            shown = controller.state.devices[device].status
            assert all(not isinstance(v, (dict, list)) for v in shown.values()), shown

    one()
    # each was refused with a warning naming the problem, none reached the "bug" safety net
    assert not [r for r in caplog.records if r.levelno >= 40], [r.getMessage() for r in caplog.records if r.levelno >= 40][:5]


def test_messages_on_topics_that_are_not_ours_are_ignored(hall) -> None:
    controller, recorder = hall
    before = fingerprint(controller)
    good = json.dumps({"op": "issue", "request_id": "odd-1", "service": "pay"}).encode()
    controller.apply_batch([Inbound(t, good, False) for t in (
        f"{R}/dev/kiosk.k1/req/extra", f"{R}/dev/kiosk.k1", f"{R}/dev//req", f"{R}/state", f"{R}/event",
        "hallq/v1/h2/dev/kiosk.k1/req", f"{R}/sim/kiosk.k1", f"{R}/dev/kiosk.k1/res")])
    # dev//req: an empty device id is not a device of the hall
    sent = recorder.take()
    assert fingerprint(controller) == before
    assert all(json.loads(p)["ok"] is False for _, p, _ in sent if p.startswith(b'{"request_id"'))


# --- through Mosquitto and a real controller process --------------------------------------------
@st.composite
def bad_batch(draw: st.DrawFn) -> list[tuple[str, bytes, set[str]]]:
    """Bad requests from the devices whose credentials the test holds (the broker confines each
    device to its own topics, so a stranger id cannot even reach the controller)."""
    cases = draw(st.lists(bad_requests(), min_size=40, max_size=60))
    return [(d, p, codes) for d, p, codes in cases if d in KINDS]


def test_hostile_payloads_through_mosquitto_change_nothing(broker: Broker, controller, admin: TestClient, device) -> None:
    clients = {d: device(d, subscribe=[f"{R}/dev/{d}/res"]) for d in KINDS if d != "admin.ctl"}
    clients["admin.ctl"] = admin
    state_before = admin.state()
    kiosk = clients["kiosk.k1"]
    seen = 0

    @fuzz_settings(4)
    @given(bad_batch(), st.lists(st.binary(max_size=100) | json_values.map(encode), min_size=5, max_size=15))
    def one(batch: list[tuple[str, bytes, set[str]]], garbage: list[bytes]) -> None:
        nonlocal seen
        marks = {d: c.mark() for d, c in clients.items()}
        for dev, payload, _ in batch:
            clients[dev].c.publish(T.request(dev), payload, qos=1)
        # garbage on the controller's other inputs: presence (not a bool) and status (not an object)
        for junk in garbage:
            bad_presence = junk if not _is_json(junk) else encode({"online": json.loads(junk), "x": 1}) \
                if not isinstance(json.loads(junk), bool) else b"{"
            kiosk.c.publish(T.presence("kiosk.k1"), bad_presence, qos=1)
            status = junk if not _is_json(junk) or not isinstance(json.loads(junk), dict) else b"[1]"
            kiosk.c.publish(T.status("kiosk.k1"), status, qos=1)
        for dev in clients:
            want = [codes for d, _, codes in batch if d == dev]
            topic = T.reply(dev)
            deadline = time.monotonic() + WAIT_S
            while True:
                with clients[dev].cond:
                    got = [json.loads(p) for t, p, _ in clients[dev].messages[marks[dev]:] if t == topic]
                if len(got) >= len(want) or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert len(got) == len(want), f"{dev}: {len(got)} replies to {len(want)} requests"
            assert all(r["ok"] is False and r["error"]["code"] in REJECTIONS for r in got), got
            # QoS 1 keeps one publisher's order: the i-th reply answers the i-th request
            for reply, codes in zip(got, want):
                assert reply["error"]["code"] in codes
        seen += len(batch)

    one()
    assert seen >= 100
    # a real request still works, and it is the first change since the start
    kiosk_reply = kiosk.request("issue", service="pay")
    assert kiosk_reply["ok"], kiosk_reply
    fresh = TestClient(broker.port, "display.d1", broker.credentials["display.d1"], subscribe=[f"{R}/state"])
    state = fresh.state(lambda s: s["seq"] > state_before["seq"])
    fresh.close()
    assert state["seq"] == state_before["seq"] + 1
    assert [s["waiting"] for s in state["services"] if s["id"] == "pay"] == \
        [s["waiting"] + 1 for s in state_before["services"] if s["id"] == "pay"]
    assert controller.proc.poll() is None
    assert "Traceback" not in controller.output()


# --- garbage on serial lines ------------------------------------------------------------------
class ScriptedLink:
    """A printer status channel that answers with whatever the test says (in chunks)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.sent = bytearray()

    def send(self, data: bytes) -> None:
        self.sent += data

    def receive(self, timeout_s: float) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def discard_input(self) -> None:
        pass


@pytest.mark.processes
@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=20), max_size=8))
def test_printer_status_garbage_is_a_condition_never_an_error(chunks: list[bytes]) -> None:
    link = ScriptedLink(chunks)
    t0 = time.monotonic()
    condition = query_status(link, timeout_s=0.005)
    assert condition in CONDITIONS
    assert time.monotonic() - t0 < 5     # bounded: never waits on a silent printer (a bound, not a speed check)
    if not any(is_status_byte(b) for chunk in chunks for b in chunk):
        assert condition == "offline"    # noise is not an answer: never "ok" from garbage


class AnsweringPort:
    """A serial port whose far end answers every write with fixed bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.buffer = bytearray()
        self.timeout: float | None = 0.01

    @property
    def in_waiting(self) -> int:
        return len(self.buffer)

    def reset_input_buffer(self) -> None:
        self.buffer.clear()

    def write(self, data: bytes) -> int:
        self.buffer += self.answer
        return len(data)

    def flush(self) -> None:
        pass

    def read(self, n: int = 1) -> bytes:
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def close(self) -> None:
        pass


@pytest.mark.processes
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["line", "ledbox"]), st.binary(max_size=200), st.text(max_size=40))
def test_sign_answering_garbage_is_a_device_fault_never_a_crash(protocol: str, answer: bytes, text: str) -> None:
    sign = Sign(SignConfig(port="loop://", protocol=protocol, answer_timeout_s=0.02))
    sign.port = AnsweringPort(answer)   # type: ignore[assignment]
    try:
        sent = sign.draw(SignView(text=text, kind="serving"))
    except DeviceFault as fault:
        assert fault.condition in ("garbage", "no_answer", "refused", "unplugged")
        return
    # accepted: only a true answer may be accepted
    if protocol == "line":
        assert answer == sent
    else:
        assert b"\xaa" in answer and answer != sent


# --- the devices: garbage on everything a kiosk, a counter and a display read -------------------
def _process_alive_and_clean(proc) -> None:
    assert proc.proc.poll() is None, proc.output()[-3000:]
    assert "Traceback" not in proc.output(), proc.output()[-3000:]


def test_devices_survive_garbage_on_everything_they_read(broker: Broker, controller, admin: TestClient,
                                                         tmp_path: Path) -> None:
    """Presence is written by every device (a compromised kiosk can send anything on its own),
    ``sim`` by operators, ``state``/``event``/``res`` by the controller (a buggy one, here): the
    stub kiosk, counter and display take all of it, keep running, and still do their work."""
    from hallq.testing import Process

    cfg = ["--config", str(broker.config_path)]
    tickets = tmp_path / "tickets"
    snapshot = tmp_path / "display.png"
    procs = {
        "kiosk.k1": Process(["kiosk", *cfg, "--id", "k1", "--stub", "--printer-out", str(tickets),
                             "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start(),
        "counter.c1": Process(["counter", *cfg, "--id", "c1", "--stub", "--data", str(tmp_path / "c1")],
                              tmp_path, "counter").start(),
        "display.d1": Process(["display", *cfg, "--id", "d1", "--headless", "--no-sound", "--stub",
                               "--snapshot", str(snapshot), "--data", str(tmp_path / "d1")], tmp_path, "display").start(),
    }
    forger = TestClient(broker.port, "forger", broker.credentials["controller"], username="controller", subscribe=[])
    kiosk2 = TestClient(broker.port, "kiosk.k2", broker.credentials["kiosk.k2"], subscribe=[])
    try:
        for device in procs:
            admin.wait_for(lambda t, d, device=device: t == f"{R}/presence/{device}" and isinstance(d, dict)
                           and d.get("online"), timeout=20)
        topics = [(kiosk2, f"{R}/presence/kiosk.k2", True)]
        for device in procs:
            topics += [(admin, f"{R}/sim/{device}", False), (forger, f"{R}/dev/{device}/res", False)]
        topics += [(forger, f"{R}/state", True), (forger, f"{R}/event", False)]
        sent = 0

        @fuzz_settings(3)
        @given(st.lists(st.binary(max_size=200) | json_values.map(encode)
                        | st.integers(2_000, 20_000).map(lambda n: deep(n).encode())
                        | st.fixed_dictionaries({"request_id": st.text(max_size=10), "ok": json_values,
                                                 "ticket": json_values, "seq": json_values, "epoch": json_values,
                                                 "press": json_values, "type": st.sampled_from(
                                                     ["ticket_called", "ticket_issued", "x"])}).map(encode),
                        min_size=40, max_size=60))
        def one(payloads: list[bytes]) -> None:
            nonlocal sent
            for i, payload in enumerate(payloads):
                client, topic, retain = topics[i % len(topics)]
                client.c.publish(topic, payload, qos=1, retain=retain)
                sent += 1

        one()
        time.sleep(2.0)     # let them chew on it; then alive, clean, and still working (below)
        assert sent >= 100
        for proc in procs.values():
            _process_alive_and_clean(proc)
        # and they still work: a press prints a ticket, the counter calls it, the display shows it
        mark = admin.mark()
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
        issued = admin.wait_for(lambda t, d: t == f"{R}/event" and isinstance(d, dict) and d.get("type") == "ticket_issued"
                                and isinstance(d.get("ticket"), dict) and d["ticket"].get("source") == "kiosk.k1",
                                start=mark, timeout=20)
        number = issued["ticket"]["number"]
        deadline = time.monotonic() + 15
        while not (tickets / f"{number}.bin").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tickets / f"{number}.bin").exists()
        admin.publish(f"{R}/sim/counter.c1", {"press": "next"})
        admin.state(lambda s: any(c["id"] == "c1" and (c.get("ticket") or {}).get("number") == number
                                  for c in s["counters"]), start=mark, timeout=20)
        deadline = time.monotonic() + 20
        shown = None
        while time.monotonic() < deadline:
            try:
                shown = json.loads(snapshot.with_suffix(".json").read_text("utf-8"))
            except (OSError, ValueError):
                shown = None
            if shown and any(c.get("id") == "c1" and c.get("number") == number for c in shown.get("counters", [])):
                break
            time.sleep(0.1)
        assert shown and any(c.get("id") == "c1" and c.get("number") == number for c in shown["counters"]), shown
        for proc in procs.values():
            _process_alive_and_clean(proc)
    finally:
        for proc in procs.values():
            proc.stop()
        forger.c.publish(f"{R}/presence/kiosk.k2", b"", qos=1, retain=True)
        forger.close()
        kiosk2.close()
