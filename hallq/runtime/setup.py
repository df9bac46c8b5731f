"""The static part of the hall the core's rules need (:class:`~hallq.core.setup.Setup`), from its
config: the controller, a kiosk (offline issuing) and the web's mirror build it the same way."""
from __future__ import annotations

from hallq.core.rules import CounterSetup, ServiceSetup, Setup

from .config import Config


def setup_from_config(config: Config) -> Setup:
    """The static part of the hall the rules need, from its config."""
    hours = config.opening_hours
    return Setup(
        tz=config.zone,
        hours=tuple(hours) if hours is not None else None,
        services={s.id: ServiceSetup(s.id, s.prefix, float(s.est_service_s), tuple(s.route)) for s in config.service},
        counters={k.id: CounterSetup(k.id, tuple(k.services), k.call_order, dict(k.weights)) for k in config.counter},
        clerks={k.id: CounterSetup(k.id, tuple(k.services), k.call_order, dict(k.weights)) for k in config.clerk},
        kiosks={k.id: tuple(k.services) for k in config.kiosk},
        outage_issuing=config.hall.outage_issuing,
        no_show_reinstate_s=config.hall.no_show_reinstate_s,
        rating_window_s=config.hall.rating_window_s,
        appointment_early_s=config.hall.appointment_early_s,
        appointment_late_s=config.hall.appointment_late_s,
        service_level_wait_s=config.hall.service_level_wait_s,
        kiosk_day_share=config.hall.kiosk_day_share,
        priority_per_normal=config.hall.priority_per_normal,
        ageing_s=config.hall.ageing_s,
        journey_order=config.hall.journey_order,
        auto_call_s=config.hall.auto_call_s,
        appointment_place=config.hall.appointment_place,
        remote_caps={s.id: s.remote_daily_cap for s in config.service if s.remote_daily_cap},
        remote_per_device=config.hall.remote_per_device,
        remote_per_address=config.hall.remote_per_address,
        remote_unconfirmed=config.hall.remote_unconfirmed,
        booking={s.id: (s.booking_slot_min, s.booking_per_counter, s.booking_days)
                 for s in config.service if s.booking_slot_min},
    )
