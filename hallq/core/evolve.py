"""``evolve``: apply one event to a state (a plain function of both); ``fold`` many. Replaying
stored events through it rebuilds the state exactly."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from msgspec.structs import replace

from . import events as e
from .model import NO_LEASE, NO_OVERFLOW_LEASE, TOP_NUMBER, DeviceState, HallState, Lease, RecentCall, Ticket, number_value

RECENT_CALLS_KEPT = 20
ANNOUNCEMENTS_KEPT = 10
SERVICE_TIME_BOUNDS = (20.0, 3600.0)   # a measured service time outside is an outlier (forgot to finish)
SERVICE_TIME_WEIGHT = 0.3              # weight of the newest measurement in the moving average
GAP_BOUND_S = 120.0                    # a longer pause between finishing and calling is idleness, not turnaround
GAP_WEIGHT = 0.1
OCCUPANCY_WEIGHT = 0.1
PAUSE_BOUNDS_S = (60.0, 7200.0)        # a pause outside is a slip of the key, or the end of a shift


def evolve(state: HallState, event: e.Event) -> HallState:
    s = state.copy()
    match event:
        case e.DayStarted(day=day, carried=carried):
            keep = set(carried)
            s.tickets = {k: t for k, t in s.tickets.items() if k in keep}
            s.services = {k: replace(v, next_number=1, lease_floor=NO_LEASE, overflow_floor=NO_OVERFLOW_LEASE)
                          for k, v in s.services.items()}
            s.kiosk_issued = {}
            s.remote_joins = {}
            s.counters = {k: replace(v, ticket=v.ticket if v.ticket in keep else None,
                                     last_served=None, last_served_at=None, free_since=None, calls={})
                          for k, v in s.counters.items()}
            s.leases, s.recent_calls, s.arrivals, s.day = [], [], 0, day
            s.appointments = {k: a for k, a in s.appointments.items() if a.day >= day}
            s.rules = None                  # an operator's rules last the day
        case e.RulesChanged(rules=rules, file=file):
            if file:
                s.file_rules, s.rules = rules, None
            else:
                s.rules = rules
        case e.TicketIssued(ticket=t):
            s.tickets[t.id] = t
            s.arrivals += 1
            if not t.offline:
                svc = s.services[t.service]
                s.services[t.service] = replace(svc, next_number=max(svc.next_number, number_value(t.number) + 1))
            if t.source.startswith("kiosk.") and t.day == s.day:
                key = f"{t.source}|{t.service}"
                s.kiosk_issued[key] = s.kiosk_issued.get(key, 0) + 1
        case e.TicketCalled(ticket=t, counter=k, at=at):
            s.tickets[t.id] = t
            finished = s.counters[k].last_served_at
            if finished is not None and 0 <= (gap := (at - finished).total_seconds()) <= GAP_BOUND_S:
                s.gap_s += GAP_WEIGHT * (gap - s.gap_s)
            calls = s.counters[k].calls
            s.counters[k] = replace(s.counters[k], ticket=t.id, calls={**calls, t.service: calls.get(t.service, 0) + 1})
            _push_call(s, _recent(t, k, at))
            if t.service in s.services:
                svc = s.services[t.service]
                s.services[t.service] = replace(svc, priority_run=svc.priority_run + 1 if t.priority == "priority" else 0)
        case e.TicketRecalled(ticket=t, counter=k, at=at):
            s.tickets[t.id] = t
            _push_call(s, _recent(t, k, at))
        case e.TicketServed(ticket=t, counter=k, at=at, service_s=seconds):
            s.tickets[t.id] = t
            s.counters[k] = replace(s.counters[k], ticket=None, last_served=t.id, last_served_at=at, last_rated=False,
                                    last_served_step=t.step, free_since=at)
            low, high = SERVICE_TIME_BOUNDS
            if low <= seconds <= high:
                svc = s.services[t.service]
                avg = svc.avg_service_s + SERVICE_TIME_WEIGHT * (seconds - svc.avg_service_s)
                s.services[t.service] = replace(svc, avg_service_s=avg, measured=svc.measured + 1,
                                                occupancy_s=_moved(svc.occupancy_s or svc.avg_service_s, seconds))
        case e.TicketNoShow(ticket=t, counter=k, at=at):
            s.tickets[t.id] = t
            s.counters[k] = replace(s.counters[k], ticket=None, free_since=at)
            if t.called_at is not None:          # the counter's time went to waiting for them
                seconds = (at - t.called_at).total_seconds()
                svc = s.services[t.service]
                if SERVICE_TIME_BOUNDS[0] <= seconds <= SERVICE_TIME_BOUNDS[1]:
                    s.services[t.service] = replace(svc, occupancy_s=_moved(svc.occupancy_s or svc.avg_service_s,
                                                                            seconds))
        case e.RemoteJoined(service=service, device=device, address=address):
            for key in (f"service:{service}", f"device:{device}", f"address:{address}"):
                s.remote_joins[key] = s.remote_joins.get(key, 0) + 1
        case e.TicketArrived(ticket=t) | e.TicketPostponed(ticket=t):
            s.tickets[t.id] = t
        case e.TicketRouted(ticket=t):
            s.tickets[t.id] = t             # the counter let it go with its ticket_served
        case e.TicketTransferred(ticket=t, counter=k, at=at):
            s.tickets[t.id] = t
            s.counters[k] = replace(s.counters[k], ticket=None, free_since=at)
        case e.TicketVoided(ticket=t, counter=k, at=at):
            s.tickets[t.id] = t
            if k is not None and s.counters[k].ticket == t.id:
                s.counters[k] = replace(s.counters[k], ticket=None, free_since=at)
        case e.TicketRated(ticket=t, counter=k):
            s.tickets[t.id] = t
            if k in s.counters and s.counters[k].last_served == t.id:
                s.counters[k] = replace(s.counters[k], last_rated=True)
        case e.TicketReinstated(ticket=t):
            s.tickets[t.id] = t
        case e.CounterSuspended(counter=k, reason=reason, at=at):
            s.counters[k] = replace(s.counters[k], suspended=True, suspend_reason=reason, suspended_at=at)
        case e.CounterResumed(counter=k, at=at):
            began = s.counters[k].suspended_at
            if began is not None and PAUSE_BOUNDS_S[0] <= (pause := (at - began).total_seconds()) <= PAUSE_BOUNDS_S[1]:
                s.pause_s += SERVICE_TIME_WEIGHT * (pause - s.pause_s)
            s.counters[k] = replace(s.counters[k], suspended=False, suspend_reason="", suspended_at=None, free_since=at)
        case e.ClerkLoggedIn(counter=k, clerk=clerk):
            s.counters[k] = replace(s.counters[k], clerk=clerk)
        case e.ClerkLoggedOut(counter=k):
            s.counters[k] = replace(s.counters[k], clerk=None)
        case e.ServiceSuspended(service=sid):
            s.services[sid] = replace(s.services[sid], suspended=True)
        case e.ServiceResumed(service=sid):
            s.services[sid] = replace(s.services[sid], suspended=False)
        case e.OutageStarted(message=message):
            s.outage, s.outage_message = True, message
        case e.OutageEnded():
            s.outage, s.outage_message = False, None
        case e.HallOpened(by=by):
            if by == "schedule":
                s.schedule_open, s.override = True, None
            else:
                s.override = "open"
        case e.HallClosed(by=by):
            if by == "schedule":
                s.schedule_open, s.override = False, None
            else:
                s.override = "closed"
        case e.Announcement(text=text):
            s.announcements = ([a for a in s.announcements if a != text] + [text])[-ANNOUNCEMENTS_KEPT:]
        case e.AnnouncementRemoved(text=text):
            s.announcements = [] if text is None else [a for a in s.announcements if a != text]
        case e.DeviceOnline(device=d, boot=boot) | e.DeviceOffline(device=d, boot=boot):
            old = s.devices.get(d, DeviceState())
            s.devices[d] = replace(old, online=isinstance(event, e.DeviceOnline), boot=boot)
        case e.DeviceStatusChanged(device=d, status=status):
            s.devices[d] = replace(s.devices.get(d, DeviceState()), status=dict(status))
        case e.NumbersLeased(kiosk=kiosk, service=sid, start=start, end=end, day=day, at=at):
            s.leases.append(Lease(kiosk=kiosk, service=sid, start=start, end=end, day=day, at=at))
            svc = s.services[sid]
            if start > TOP_NUMBER:
                s.services[sid] = replace(svc, overflow_floor=min(svc.overflow_floor, start))
            else:
                s.services[sid] = replace(svc, lease_floor=min(svc.lease_floor, start))
        case e.AppointmentBooked(appointment=a) | e.AppointmentMoved(appointment=a):
            s.appointments[a.code] = a
        case e.AppointmentCancelled(code=code):
            s.appointments.pop(code, None)
        case e.AppointmentCheckedIn(code=code, ticket=tid, on_time=on_time, at=at):
            s.appointments[code] = replace(s.appointments[code], status="checked_in", ticket=tid,
                                           checked_in_at=at, on_time=on_time)
        case e.AlertRaised(alert=alert):
            s.alerts[alert.id] = alert
        case e.AlertCleared(id=alert_id):
            s.alerts.pop(alert_id, None)
        case e.NumberingContinued(service=sid, next_number=n):
            svc = s.services[sid]
            s.services[sid] = replace(svc, next_number=max(svc.next_number, n))
        case _:
            raise TypeError(f"no evolve rule for {type(event).__name__}")
    return s


def _moved(average: float, sample: float) -> float:
    """The occupancy average moves slowly: a forecast sums many services, so it wants the mean,
    not the last few (a service time varies by ±40 % from one customer to the next)."""
    return average + OCCUPANCY_WEIGHT * (sample - average)


def _recent(t: Ticket, counter: str, at: datetime) -> RecentCall:
    steps = len(t.route)
    return RecentCall(number=t.number, counter=counter, at=at, service=t.service, ticket=t.id,
                      step=t.step, steps=steps)


def _push_call(s: HallState, call: RecentCall) -> None:
    s.recent_calls = ([call] + [r for r in s.recent_calls if r.ticket != call.ticket])[:RECENT_CALLS_KEPT]


def fold(state: HallState, events: Iterable[e.Event]) -> HallState:
    for event in events:
        state = evolve(state, event)
    return state
