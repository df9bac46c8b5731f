"""Booking a slot: in the pure core, slots from the hours with a capacity per slot from the counters
serving the service (random days of booking, moving, cancelling and checking in keep every bound); in a
running hall, the booking pages in Chromium at phone width: book, move, cancel, and check in at a kiosk."""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selenium.webdriver.common.by import By

from hallq.core import commands as c
from hallq.core.queries import booking_slots
from hallq.core.rules import QueueRules
from hallq.errors import RequestError
from hallq.runtime.config import load_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL
from test_core_properties import check_invariants
from webkit import page_text, start_web_hall, stop_web_hall, wait_until

TZ = ZoneInfo("Asia/Shanghai")
SHOTS = Path(__file__).parent.parent / "build" / "screens"
START = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)
# pay: 30-minute slots, one booking per counter serving it (c1, c2, c3: three a slot), a week ahead
BASE = dataclasses.replace(setup_from_config(load_config(EXAMPLE_HALL)), booking={"pay": (30, 1, 7)},
                           hours=((time(9, 0), time(12, 0)), (time(13, 0), time(17, 0))))
SLOTS = st.sampled_from([time(9, 0), time(9, 30), time(11, 30), time(12, 0), time(13, 0), time(9, 10)])
CODES = st.sampled_from(["1", "2", "3", "4", "5", "6"])
commands = st.one_of(
    st.builds(c.BookAppointment, code=CODES, service=st.sampled_from(["pay", "pay", "biz"]),
              slot=st.tuples(st.integers(0, 2), SLOTS).map(lambda d: datetime.combine(START.date() + timedelta(days=d[0]), d[1], TZ))),
    st.builds(c.CancelBooking, code=CODES),
    st.builds(c.MoveBooking, code=CODES,
              slot=st.tuples(st.integers(0, 2), SLOTS).map(lambda d: datetime.combine(START.date() + timedelta(days=d[0]), d[1], TZ))),
    st.builds(c.CheckIn, code=CODES, by=st.just("kiosk.k1")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(commands, st.sampled_from([0, 600, 1800])), min_size=1, max_size=40))
def test_bookings_stay_on_slots_within_capacity_and_moves_and_cancellations_keep_the_code(steps):
    rules = QueueRules(BASE)
    state = rules.handle(BASE.initial_state(), c.Tick(), START)[0]
    now = START
    for command, advance in steps:
        now += timedelta(seconds=advance)
        state = rules.handle(state, c.Tick(), now)[0]
        before = state
        try:
            state, events = rules.handle(state, command, now)
        except RequestError as err:
            assert err.code and err.message and state is before
            continue
        check_invariants(state)
        per_slot: dict[datetime, int] = {}
        for a in state.appointments.values():
            if a.service == "pay":
                per_slot[a.slot] = per_slot.get(a.slot, 0) + 1
        for slot, n in per_slot.items():
            assert n <= 3, f"{n} bookings at {slot}"
        if isinstance(command, c.BookAppointment) and command.service == "pay":
            # only at a slot of the grid (09:10 is not one), within the hours
            assert command.slot.time() in (time(9, 0), time(9, 30), time(11, 30), time(13, 0))
        if isinstance(command, c.CancelBooking):
            assert command.code not in state.appointments
        if isinstance(command, c.MoveBooking) and events:
            assert state.appointments[command.code].slot == command.slot.astimezone(TZ)


def test_the_slots_of_a_day_and_a_full_one():
    rules = QueueRules(BASE)
    state = rules.handle(BASE.initial_state(), c.Tick(), START)[0]
    slots = booking_slots(BASE, state, "pay", START.date(), START)
    # 09:00-12:00 and 13:00-17:00 in 30 minutes: 6 + 8 slots, three places each
    assert len(slots) == 14 and slots[0] == (datetime(2026, 11, 23, 9, 0, tzinfo=TZ), 3)
    nine = slots[0][0]
    for code in "abc":
        state, _ = rules.handle(state, c.BookAppointment(code=code, service="pay", slot=nine), START)
    assert booking_slots(BASE, state, "pay", START.date(), START)[0] == (nine, 0)
    with pytest.raises(RequestError) as full:
        rules.handle(state, c.BookAppointment(code="d", service="pay", slot=nine), START)
    assert full.value.code == "slot_full"
    # moving one away frees a place; a slot beyond the days ahead is none
    state, _ = rules.handle(state, c.MoveBooking(code="a", slot=nine + timedelta(minutes=30)), START)
    assert booking_slots(BASE, state, "pay", START.date(), START)[0] == (nine, 1)
    assert booking_slots(BASE, state, "pay", START.date() + timedelta(days=8), START) == []


@pytest.fixture
def hall(tmp_path):
    # the example hall is always open (slots all day, five minutes apart): a booking today can be checked in now
    h = start_web_hall(tmp_path, edits={'prefix = "A"\n': 'prefix = "A"\nbooking_slot_min = 5\n'})
    yield h
    stop_web_hall(h)



def test_book_move_cancel_and_check_in_through_the_pages(hall, phone):
    def book() -> str:
        phone.get(hall.base + "/book")
        phone.find_element(By.LINK_TEXT, "缴费").click()
        buttons = wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, "form.slots button.slot:enabled"),
                             what="today's free slots")
        SHOTS.mkdir(parents=True, exist_ok=True)
        phone.save_screenshot(str(SHOTS / "booking.png"))
        buttons[0].click()
        wait_until(lambda: phone.find_elements("id", "code"), what="the booking's code")
        assert phone.find_element("id", "booked").text.startswith("已预约：缴费")
        return phone.find_element("id", "code").text

    def manage(code: str) -> None:
        phone.get(hall.base + "/book/manage")
        phone.find_element("name", "code").send_keys(code)
        phone.find_element(By.CSS_SELECTOR, "form button").click()
        wait_until(lambda: phone.find_elements("id", "cancel"), what="the booking found")

    if not booking_slots_today(hall):
        pytest.skip("the last minutes of the hall's day: no slot left today to check in")
    code = book()
    assert re.fullmatch(r"\d{10}", code)
    manage(code)
    first = phone.find_element("id", "booked").text
    # its own slot is shown as its own, not offered; another day is chosen by a button (the code never in an address)
    assert "您的" in phone.find_element(By.CSS_SELECTOR, "form.slots button.slot:disabled").text
    other_day = phone.find_elements(By.CSS_SELECTOR, "form.days button:enabled")[0]
    chosen = other_day.get_attribute("value")
    other_day.click()
    # this page marks the booking's own day: wait for the answer's page, which marks the chosen one
    wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, f'form.days button[aria-current][value="{chosen}"]'),
               what="another day")
    assert "/book/manage" in phone.current_url and code not in phone.current_url
    phone.find_elements(By.CSS_SELECTOR, "form.slots button.slot:enabled")[1].click()
    wait_until(lambda: "已改约" in page_text(phone), what="moved")
    moved = phone.find_element("id", "booked").text
    assert moved.startswith("已改约：缴费") and moved.split("，")[-1][:6] != first.split("，")[-1][:6]   # another day
    manage(code)
    phone.find_element("id", "cancel").click()
    wait_until(lambda: "预约已取消" in page_text(phone), what="cancelled")
    kiosk = hall.client("kiosk.k1")
    try:
        assert kiosk.request("check_in", code=code)["error"]["code"] == "unknown_appointment"
        again = book()
        checked = kiosk.request("check_in", code=again)
        assert checked["ok"] and checked["ticket"]["appointment"], checked
    finally:
        kiosk.close()


def booking_slots_today(hall) -> bool:
    import httpx
    return 'class="slot"' in httpx.get(hall.base + "/book/pay").text
