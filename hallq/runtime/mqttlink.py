"""The one MQTT client wrapper every hallq process uses (paho-mqtt 2.x, VERSION2 callbacks).

paho runs its network loop in its own thread; its callbacks only put items on the owner's inbox
(:class:`queue.Queue`). The owner thread applies them. MQTT 3.1.1 with clean sessions: nothing
is queued for an absent client, so reliability comes from requests retried with the same id and
answered exactly once in effect by the controller, and from retained state.

This is the one module that touches paho: its client, its callbacks and (in :meth:`forget`) its
private out-queue. Owners learn of the connection only from :class:`LinkUp` / :class:`LinkDown`
items in their inbox, never by reading a flag paho's thread writes.
"""
from __future__ import annotations

import logging
import queue
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .config import Config, device_password, resolve_path

log = logging.getLogger(__name__)

COMPLAIN_EVERY_S = 5.0


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes
    retained: bool
    lane: str = ""            # which of its owner's connections it came by ("" the main one)


@dataclass(frozen=True)
class LinkUp:
    """The client (re)connected and subscribed; the owner republishes what it owns."""
    lane: str = ""


@dataclass(frozen=True)
class LinkDown:
    reason: str
    lane: str = ""


def set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """Small messages must not wait for Nagle's algorithm (~40 ms with delayed ACKs)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # TLS-wrapped or non-TCP sockets: leave as they are


def forget_unsent(client: mqtt.Client, mids: list[int]) -> int:
    """Drop these messages from paho's out-queue; returns how many were still there.

    paho keeps QoS 1 messages that were not acknowledged and sends them again after a reconnect,
    even with a clean session. A request its device gave up on must never reach the controller
    later, so it is removed here. paho has no public call for this; the attributes are paho 2.x's.
    """
    dropped = 0
    with client._out_message_mutex:
        for mid in mids:
            message = client._out_messages.pop(mid, None)
            if message is None:
                continue
            dropped += 1
            if message.state == mqtt.mqtt_ms_wait_for_puback and client._inflight_messages > 0:
                client._inflight_messages -= 1
    return dropped


class MqttLink:
    def __init__(
        self,
        config: Config,
        client_id: str,
        inbox: queue.Queue[Any],
        subscriptions: list[str],
        will: tuple[str, bytes] | None = None,
        lane: str = "",
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.lane = lane
        self.inbox = inbox
        self.subscriptions = subscriptions
        self._paho_connected = False    # paho's thread only: to put one LinkDown per LinkUp
        self._subscribing: int | None = None   # paho's thread only: the subscribe whose SUBACK means up
        self._last_complaint = 0.0      # paho's thread only: when "no connection" was last said
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        broker = config.broker
        client.username_pw_set(broker.username or client_id, device_password(config, client_id))
        if broker.tls is not None:
            client.tls_set(
                ca_certs=resolve_path(config, broker.tls.ca),
                certfile=resolve_path(config, broker.tls.cert) if broker.tls.cert else None,
                keyfile=resolve_path(config, broker.tls.key) if broker.tls.key else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
            client.tls_insecure_set(broker.tls.insecure)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        # No in-flight limit: paho's default of 20 stalls bursts, and with any limit paho walks
        # every unacknowledged message on each PUBACK (quadratic in a burst). MQTT 3.1.1 has no
        # receive maximum to respect; the broker's own queue limits apply.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=0.2, max_delay=2)
        client.on_socket_open = set_nodelay
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.client = client

    # --- paho callbacks: enqueue only -------------------------------------------------------
    def _say_unreachable(self, why: str) -> None:
        """Every few seconds while it lasts: which broker, and why (an installer reads this first)."""
        now = time.monotonic()
        if now - self._last_complaint >= COMPLAIN_EVERY_S:
            self._last_complaint = now
            broker = self.config.broker
            log.error("%s: no connection to the broker at %s:%d: %s; retrying", self.client_id, broker.host,
                      broker.port, why)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        tls = " (TLS: check [broker.tls] ca and the broker's certificate)" if self.config.broker.tls else ""
        self._say_unreachable(f"nothing answers there, or the connection was refused{tls}")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            user = self.config.broker.username or self.client_id
            self._say_unreachable(f"the broker refused user {user!r}: {reason} (its password: [broker] "
                                  "credentials or password)")
            return
        self._last_complaint = 0.0
        if self.subscriptions:
            # up once the broker has taken the subscriptions (its SUBACK), not at the connection: the
            # controller drops the bulk copy of a counter's request while its lane is up, so a lane said
            # to be up before it was subscribed lost what came in between
            self._subscribing = client.subscribe([(topic, 1) for topic in self.subscriptions])[1]
            return
        self._up()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if mid == self._subscribing:
            self._up()

    def _up(self) -> None:
        self._paho_connected = True
        self.inbox.put(LinkUp(self.lane))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self._paho_connected
        self._paho_connected = False
        if was:
            self.inbox.put(LinkDown(str(reason), self.lane))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(Inbound(message.topic, message.payload, bool(message.retain), self.lane))

    # --- owner side --------------------------------------------------------------------------
    def start(self) -> None:
        broker = self.config.broker
        self.client.connect_async(broker.host, broker.port, keepalive=broker.keepalive)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False, qos: int = 1) -> int:
        """Hand a message to paho; its message id."""
        return self.client.publish(topic, payload, qos=qos, retain=retain).mid

    def forget(self, mids: list[int]) -> int:
        """Take these messages back from paho (see :func:`forget_unsent`)."""
        return forget_unsent(self.client, mids)

    def stop(self, last_words: tuple[str, bytes] | None = None) -> None:
        """Publish ``last_words`` (retained; the owner passes them only while its link is up),
        then disconnect cleanly."""
        if last_words is not None:
            info = self.client.publish(last_words[0], last_words[1], qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
