"""The web service's HTML: small hand-written pages, no build step, no inline script (the CSP
forbids it). Every text that comes from the hall (names, notices, operators' messages) is escaped
here or set with ``textContent`` in the browser; pages load their data as JSON and then follow it
with Server-Sent Events.
"""
from __future__ import annotations

import html
from typing import Any

from hallq.http.pages import Lang, page
from hallq.runtime.config import Config
from hallq.runtime.i18n import N_, day_text, gettext, minutes, month_text, normalise, service_name


def language(accept_language: str | None) -> Lang:
    """The page's language from the browser's first preference: English if it asks for English
    first, else Chinese (the hall's own language)."""
    return normalise((accept_language or "").split(",")[0].strip())


def phone_texts(view: dict[str, Any], lang: Lang, config: Config, counter_name: str, near: int) -> dict[str, Any]:
    """What the customer's phone says about their ticket, in their language, and what the hall is
    doing: an outage, issuing stopped, its service suspended, a missed call or a reinstated one."""
    status, ahead = view["status"], view["ahead"]
    out: dict[str, Any] = {"number": view["number"], "service": service_name(config, view["service"], lang),
                           "status": status, "alert": False, "headline": "", "detail": "", "notice": "",
                           "journey": "", "arrival": ""}
    _ = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    route, step = view.get("route") or [], view.get("step", 0)
    if len(route) > 1 and status in ("waiting", "called"):
        # one number through several services: where the customer is on the way
        out["journey"] = _("Step {step} of {steps}: {services}", step=step + 1, steps=len(route),
                           services=" → ".join(service_name(config, s, lang) for s in route))
    if view.get("mode") == "outage":
        out["notice"] = view.get("message") or _("The queue system has a fault: staff are handling it. "
                                                 "Your ticket stays valid.")
    elif view.get("mode") == "closed" and status == "waiting":
        out["notice"] = _("The hall has stopped issuing tickets; tickets already taken are served in turn.")
    elif view.get("service_suspended") and status == "waiting":
        out["notice"] = _("{service} has stopped issuing tickets; tickets already taken are served in turn.",
                          service=out["service"])
    if view.get("remote") and status == "waiting":
        # joined from a phone: called only once here (docs/web.md "Joining from a phone")
        out["arrival"] = _("When you arrive, scan the QR code at the hall's door, or type {code} at a ticket "
                           "machine: you are called once you are here", code=view.get("arrival_code") or "") \
            if not view.get("arrived") else _("You are here: you will be called in turn")
    if status == "waiting":
        if view.get("reinstated"):
            out["headline"] = _("Back in the queue")
        elif view.get("remote") and not view.get("arrived") and ahead <= near:
            # not called until here: "listen for your number" would mislead someone still on the way
            out["headline"] = _("Your turn is near: please come to the hall and confirm you are here")
        elif ahead <= near:
            out["headline"] = _("Your turn is near: please listen for your number")
            out["alert"] = ahead == 0
        elif step > 0 and route:
            out["headline"] = _("Next: {service}. Please wait", service=out["service"])
        else:
            out["headline"] = _("Please wait")
        if view.get("mode") == "outage" or not view.get("open_counters") or not view.get("est_known", True):
            out["detail"] = _("{ahead} ahead of you; the wait cannot be estimated now", ahead=ahead)
        else:
            out["detail"] = _("{ahead} ahead of you, about {minutes}", ahead=ahead,
                              minutes=minutes(view["est_wait_s"], lang))
            if len(route) > 1 and view.get("est_route_s"):
                out["detail"] += _("; the whole visit about {minutes}", minutes=minutes(view["est_route_s"], lang))
    elif status == "called":
        out["headline"] = _("Please go to {counter}", counter=counter_name)
        out["detail"] = _("Your number is being called")
        out["alert"] = True
    elif status == "served":
        out["headline"] = _("Done. Thank you for your visit")
    elif status == "no_show":
        out["headline"] = _("Your number was called and missed")
        out["detail"] = _("Please go to the service desk within {minutes}: your ticket can be put back in the queue",
                          minutes=minutes(config.hall.no_show_reinstate_s, lang))
    else:
        out["headline"] = _("This ticket is no longer valid")
    return out


PAGE_TEXTS = {
    "your_number": N_("Your number"), "offline": N_("Connection lost, reconnecting…"),
    "not_found": N_("Ticket not found"),
    "looking": N_("Looking for your ticket…"),
    "looking_detail": N_("Just printed? This page looks again in a few seconds."),
    "not_found_detail": N_("We could not find this ticket. A ticket's page works on the day it was printed; "
                           "please ask at the service desk."),
    "monthly": N_("Monthly report {period}"), "daily": N_("Daily report {period}"),
    "csv": N_("CSV for Excel"), "xlsx": N_("Excel workbook"), "print": N_("Print"), "nightly": N_("Nightly copies"),
    "console": N_("Console"), "chart": N_("Issued and served by service"), "days": N_("Daily reports"),
    "months": N_("Monthly reports"), "empty": N_("No tickets recorded in this period."),
}


def texts(lang: str) -> dict[str, str]:
    """The pages' own words in ``lang``, escaped for HTML."""
    return {key: html.escape(gettext(text, lang)) for key, text in PAGE_TEXTS.items()}


def phone_page(config: Config, token: str, first: dict[str, Any], lang: Lang) -> str:
    hall = config.hall.name_en or config.hall.name if lang == "en" else config.hall.name
    words = texts(lang)
    # the headline is a live region: a screen reader says "please go to counter 3" when it changes
    body = (f'<main class="phone"><h1 class="hall">{html.escape(hall)}</h1>'
            f'<p class="label">{words["your_number"]}</p>'
            f'<p id="number" class="number">{html.escape(first["number"])}</p>'
            f'<p id="service" class="service">{html.escape(first["service"])}</p>'
            f'<p id="journey" class="journey"{"" if first["journey"] else " hidden"}>{html.escape(first["journey"])}</p>'
            f'<p id="arrival" class="arrival" role="status"{"" if first["arrival"] else " hidden"}>'
            f'{html.escape(first["arrival"])}</p>'
            f'<p id="notice" class="notice" role="status"{"" if first["notice"] else " hidden"}>'
            f'{html.escape(first["notice"])}</p>'
            f'<p id="headline" class="headline" aria-live="assertive" aria-atomic="true">'
            f'{html.escape(first["headline"])}</p>'
            f'<p id="detail" class="detail">{html.escape(first["detail"])}</p>'
            f'<p id="offline" class="offline" hidden>{words["offline"]}'
            '</p></main>')
    return page(first["number"], body, lang=lang, scripts=("dom.js", "phone.js"), css="phone.css",
                data={"stream": f"/t/{token}/stream", "first": first})


def unknown_ticket_page(config: Config, lang: Lang, looking: bool = False) -> str:
    """A ticket the web's copy of the hall does not know. ``looking``: the first time, when it may have
    been printed a moment ago (its event can trail the kiosk's reply): the page says so and looks again."""
    words = texts(lang)
    headline, detail = ("looking", "looking_detail") if looking else ("not_found", "not_found_detail")
    body = (f'<main class="phone"><h1 class="hall">{html.escape(config.hall.name)}</h1>'
            f'<p class="headline" role="status">{words[headline]}</p><p class="detail">{words[detail]}</p></main>')
    return page("hallq", body, lang=lang, css="phone.css")


CONSOLE_LABELS = {
    "alerts": N_("Alerts"), "no_alerts": N_("No alerts"), "acknowledge": N_("Acknowledge"), "acknowledged": N_("Acknowledged"),
    "services": N_("Services"), "counters": N_("Counters"), "waiting": N_("Waiting"), "devices": N_("Devices"), "hall": N_("The hall"),
    "tickets": N_("Tickets"), "service": N_("Service"), "counter": N_("Counter"), "waiting_n": N_("Waiting"), "longest": N_("Longest wait"),
    "estimate": N_("Estimate"), "open_counters": N_("Open counters"), "state": N_("State"), "status": N_("Status"),
    "ticket": N_("Ticket"), "clerk": N_("Clerk"), "since": N_("Called at"), "actions": N_("Actions"), "device": N_("Device"),
    "online": N_("Online"), "detail": N_("Detail"), "yes": N_("Yes"), "no": N_("No"), "none": N_("None"),
    "suspend_service": N_("Stop issuing"), "resume_service": N_("Issue again"), "suspend": N_("Suspend (暂停服务)"),
    "resume": N_("Resume"), "call": N_("Call a number here"), "outage_on": N_("Declare an outage"), "outage_off": N_("End the outage"),
    "announce": N_("Post a notice"), "unannounce": N_("Take down"), "open": N_("Start issuing"), "close": N_("Stop issuing tickets"),
    "void": N_("Void a ticket"), "reinstate": N_("Reinstate a no-show"), "number": N_("Ticket number, e.g. A015"),
    "reason": N_("Reason (optional), e.g. lunch"), "message": N_("Message for the screens"), "notice": N_("Notice text"),
    "confirm": N_("Confirm"), "cancel": N_("Cancel"), "done": N_("Done"), "refused": N_("Not done"), "failed": N_("Request failed"),
    "working": N_("Sending…"), "controller_online": N_("Controller online"), "controller_offline": N_("CONTROLLER OFFLINE"),
    "records_behind": N_("Catching up with the records…"),
    "ask_suspend_service": N_("Stop issuing tickets for {name}? People already waiting are still served."),
    "ask_suspend": N_("Suspend {name}? It takes no new calls; its current customer stays."),
    "ask_close": N_("Stop issuing tickets in the whole hall?"),
    "ask_outage": N_("Declare an outage? Screens show the message; kiosks keep issuing from their leases."),
    "ask_void": N_("Void ticket {number}? Its holder will not be called."),
    "ask_call": N_("Call which number to {name}?"), "ask_reason": N_("Why is {name} suspended? (optional)"),
    "minutes_n": N_("{n} min"), "not_known": N_("Not known yet"), "notices": N_("Notices"), "reports": N_("Reports"), "logout": N_("Log out"),
    "planning": N_("Staffing and what-if"),
}


ROLES = {"supervisor": N_("Supervisor"), "manager": N_("Manager")}


def console_labels(lang: str) -> dict[str, str]:
    return {key: gettext(text, lang) for key, text in CONSOLE_LABELS.items()}


def console_page(config: Config, user: str, role: str, csrf: str, lang: str = "zh_CN") -> str:
    labels = console_labels(lang)
    role_text = gettext(ROLES.get(role, role), lang)
    body = (f'<header class="bar"><h1 class="hall">{html.escape(config.hall.name)}</h1>'
            '<span id="mode" class="mode" role="status"></span><span id="link" class="link"></span>'
            '<span id="clock" class="clock"></span>'
            f'<nav><a href="/reports">{html.escape(labels["reports"])}</a>'
            f'<a href="/planning">{html.escape(labels["planning"])}</a>'
            f'<span class="user">{html.escape(user)} ({html.escape(role_text)})</span>'
            '<form method="post" action="/logout" class="logout">'
            f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
            f'<button>{html.escape(labels["logout"])}</button></form></nav></header>'
            '<main class="console">'
            f'<section class="alerts-panel" aria-labelledby="h-alerts"><h2 id="h-alerts">{html.escape(labels["alerts"])}</h2>'
            '<div id="alerts"></div></section>'
            f'<section aria-labelledby="h-services"><h2 id="h-services">{html.escape(labels["services"])}</h2>'
            '<div class="scroll"><table id="services" class="board-table"></table></div></section>'
            f'<section aria-labelledby="h-counters"><h2 id="h-counters">{html.escape(labels["counters"])}</h2>'
            '<div class="scroll"><table id="counters" class="board-table"></table></div></section>'
            f'<section aria-labelledby="h-waiting"><h2 id="h-waiting">{html.escape(labels["waiting"])}</h2>'
            '<div id="waiting"></div></section>'
            f'<section aria-labelledby="h-hall"><h2 id="h-hall">{html.escape(labels["hall"])}</h2><div id="hall-actions"></div>'
            f'<h3>{html.escape(labels["notices"])}</h3><ul id="notices"></ul></section>'
            f'<section aria-labelledby="h-tickets"><h2 id="h-tickets">{html.escape(labels["tickets"])}</h2>'
            '<div id="ticket-actions"></div></section>'
            f'<section aria-labelledby="h-devices"><h2 id="h-devices">{html.escape(labels["devices"])}</h2>'
            '<div class="scroll"><table id="devices" class="board-table"></table></div></section>'
            '</main><p id="result" class="result" role="status" aria-live="polite"></p>'
            '<dialog id="ask"><form method="dialog"><p id="ask-text"></p>'
            '<input id="ask-input" type="text" autocomplete="off" aria-labelledby="ask-text">'
            # the confirming button first: Enter in the text field confirms
            '<div class="buttons"><button id="ask-ok" value="ok" type="submit" class="primary"></button>'
            '<button id="ask-cancel" value="cancel" type="submit" formnovalidate></button></div></form></dialog>')
    return page(f"hallq {config.hall.name}", body, lang=lang, scripts=("dom.js", "console.js"), meta={"csrf": csrf},
                data={"labels": labels})


def report_page(config: Config, report: Any, chart: str, days: list[str], months: list[str],
                nightly: list[str] | None, lang: str = "zh_CN") -> str:
    """日报表 / 月报表: per service, counter and clerk, the hall's own lines, a chart, CSV and Excel,
    printable on A4 (web.css's print rules)."""
    from .reports import SCOPES, _columns, _hall_lines, headings  # noqa: PLC0415
    words = texts(lang)
    names = headings(config, lang)
    kind = "month" if report.monthly else "date"
    when = month_text(report.period, lang) if report.monthly else day_text(report.period, lang)
    title = gettext(PAGE_TEXTS["monthly" if report.monthly else "daily"], lang, period=when)
    sections = []
    for scope, scope_title in SCOPES:
        rows = report.tables.get(scope) or []
        if not rows:
            continue
        keys = _columns(rows)
        head = "".join(f'<th scope="col">{html.escape(names[k])}</th>' for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{html.escape('-' if r.get(k) is None else str(r.get(k)))}</td>"
                                         for k in keys) + "</tr>" for r in rows)
        scope_name = html.escape(gettext(scope_title, lang))
        sections.append(f'<section><h2>{scope_name}</h2><div class="scroll">'
                        f'<table id="{scope}-figures">{"<tr>" + head + "</tr>"}{body}</table></div></section>')
    if report.empty():
        sections.append(f"<section><p>{words['empty']}</p></section>")
    hall_lines = "".join(f"<tr><th scope=\"row\">{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                         for k, v in _hall_lines(report, lang))
    links = (f'<a href="/reports.csv?{kind}={html.escape(report.period)}">{words["csv"]}</a> · '
             f'<a href="/reports.xlsx?{kind}={html.escape(report.period)}">{words["xlsx"]}</a> · '
             f'<button type="button" id="print" class="noprint">{words["print"]}</button>')
    other_days = " ".join(f'<a href="/reports?date={html.escape(d)}">{html.escape(d)}</a>' for d in days[:31])
    other_months = " ".join(f'<a href="/reports?month={html.escape(m)}">{html.escape(month_text(m, lang))}</a>'
                            for m in months[:24])
    copies = ""
    if nightly is not None:
        copy_links = " ".join(f'<a href="/reports/nightly/{html.escape(n)}">{html.escape(n)}</a>' for n in nightly)
        copies = (f'<section class="noprint"><h2>{words["nightly"]}</h2><p>{copy_links or "-"}</p>'
                  "</section>")
    body = (f'<header class="bar"><strong class="hall">{html.escape(config.hall.name)}</strong>'
            f'<nav><a href="/console">{words["console"]}</a></nav></header><main class="console report">'
            f'<section class="wide"><h1>{html.escape(config.hall.name)} {html.escape(title)}</h1>'
            f'<p class="noprint">{links}</p><table class="hall-lines">{hall_lines}</table></section>'
            + "".join(sections) +
            f'<section><h2>{words["chart"]}</h2>{chart}</section>'
            f'<section class="noprint"><h2>{words["days"]}</h2><p>{other_days or "-"}</p>'
            f'<h2>{words["months"]}</h2><p>{other_months or "-"}</p></section>{copies}</main>')
    return page(f"{config.hall.name} {title}", body, lang=lang, scripts=("report.js",))


def screen_page(config: Config, display_id: str) -> str:
    display = next(d for d in config.display if d.id == display_id)
    body = '<main id="screen" aria-live="off"></main>'
    return page(f"{config.hall.name} {display_id}", body, scripts=("dom.js", "screen.js"), css="screen.css",
                data={"stream": f"/screen/{display_id}/stream", "layout": f"/screen/{display_id}/layout",
                      "show_english": display.show_english})
