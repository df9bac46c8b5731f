"""The web service's HTML: small hand-written pages, no build step, no inline script (the CSP
forbids it). Every text that comes from the hall (names, notices, operators' messages) is escaped
here or set with ``textContent`` in the browser; pages load their data as JSON and then follow it
with Server-Sent Events.
"""
from __future__ import annotations

import html
import json
from typing import Any

from hall.config import Config
from hall.i18n import N_, gettext, minutes, normalise, service_name

Lang = str   # "zh_CN" | "en"


def language(accept_language: str | None) -> Lang:
    """The page's language from the browser's first preference: English if it asks for English
    first, else Chinese (the hall's own language)."""
    return normalise((accept_language or "").split(",")[0].strip())


def phone_texts(view: dict[str, Any], lang: Lang, config: Config, counter_name: str, near: int) -> dict[str, Any]:
    """What the customer's phone says about their ticket, in their language, and what the hall is
    doing: an outage, issuing stopped, its service suspended, a missed call or a reinstated one."""
    status, ahead = view["status"], view["ahead"]
    out: dict[str, Any] = {"number": view["number"], "service": service_name(config, view["service"], lang),
                           "status": status, "alert": False, "headline": "", "detail": "", "notice": ""}
    t = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    if view.get("mode") == "outage":
        out["notice"] = view.get("message") or t("The queue system has a fault: staff are handling it. "
                                                 "Your ticket stays valid.")
    elif view.get("mode") == "closed" and status == "waiting":
        out["notice"] = t("The hall has stopped issuing tickets; tickets already taken are served in turn.")
    elif view.get("service_suspended") and status == "waiting":
        out["notice"] = t("{service} has stopped issuing tickets; tickets already taken are served in turn.",
                          service=out["service"])
    if status == "waiting":
        if view.get("reinstated"):
            out["headline"] = t("Back in the queue")
        elif ahead <= near:
            out["headline"] = t("Your turn is near: please listen for your number")
            out["alert"] = ahead == 0
        else:
            out["headline"] = t("Please wait")
        if view.get("mode") == "outage" or not view.get("open_counters"):
            out["detail"] = t("{ahead} ahead of you; the wait cannot be estimated now", ahead=ahead)
        else:
            out["detail"] = t("{ahead} ahead of you, about {minutes}", ahead=ahead,
                              minutes=minutes(view["est_wait_s"], lang))
    elif status == "called":
        out["headline"] = t("Please go to {counter}", counter=counter_name)
        out["detail"] = t("Your number is being called")
        out["alert"] = True
    elif status == "served":
        out["headline"] = t("Done. Thank you for your visit")
    elif status == "no_show":
        out["headline"] = t("Your number was called and missed")
        out["detail"] = t("Please go to the service desk within {minutes}: your ticket can be put back in the queue",
                          minutes=minutes(config.hall.no_show_reinstate_s, lang))
    else:
        out["headline"] = t("This ticket is no longer valid")
    return out


def page(title: str, body: str, *, lang: Lang = "zh_CN", scripts: tuple[str, ...] = (), css: str = "web.css",
         data: dict[str, Any] | None = None, meta: dict[str, str] | None = None) -> str:
    """A whole page. ``data`` goes in a JSON block the scripts read (never executed)."""
    heads = "".join(f'<meta name="{html.escape(k)}" content="{html.escape(v)}">' for k, v in (meta or {}).items())
    blob = ""
    if data is not None:
        text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")   # no </script> inside
        blob = f'<script type="application/json" id="data">{text}</script>'
    tags = "".join(f'<script src="/static/{html.escape(s)}" defer></script>' for s in scripts)
    return (f'<!doctype html><html lang="{"en" if lang.startswith("en") else "zh-CN"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{heads}'
            f"<title>{html.escape(title)}</title>"
            f'<link rel="stylesheet" href="/static/{css}">{tags}</head><body>{body}{blob}</body></html>')


def phone_page(config: Config, token: str, first: dict[str, Any], lang: Lang) -> str:
    hall = config.hall.name_en or config.hall.name if lang == "en" else config.hall.name
    # the headline is a live region: a screen reader says "please go to counter 3" when it changes
    body = (f'<main class="phone"><h1 class="hall">{html.escape(hall)}</h1>'
            f'<p class="label">{html.escape(gettext("Your number", lang))}</p>'
            f'<p id="number" class="number">{html.escape(first["number"])}</p>'
            f'<p id="service" class="service">{html.escape(first["service"])}</p>'
            f'<p id="notice" class="notice" role="status"{"" if first["notice"] else " hidden"}>'
            f'{html.escape(first["notice"])}</p>'
            f'<p id="headline" class="headline" aria-live="assertive" aria-atomic="true">'
            f'{html.escape(first["headline"])}</p>'
            f'<p id="detail" class="detail">{html.escape(first["detail"])}</p>'
            f'<p id="offline" class="offline" hidden>{html.escape(gettext("Connection lost, reconnecting…", lang))}'
            '</p></main>')
    return page(first["number"], body, lang=lang, scripts=("dom.js", "phone.js"), css="phone.css",
                data={"stream": f"/t/{token}/stream", "first": first})


def unknown_ticket_page(config: Config, lang: Lang) -> str:
    text = gettext("We could not find this ticket. A ticket's page works on the day it was printed; "
                   "please ask at the service desk.", lang)
    body = (f'<main class="phone"><h1 class="hall">{html.escape(config.hall.name)}</h1>'
            f'<p class="headline">{html.escape(gettext("Ticket not found", lang))}</p>'
            f'<p class="detail">{html.escape(text)}</p></main>')
    return page("hallq", body, lang=lang, css="phone.css")


def login_page(place: str, what: str, message: str = "", name: str = "") -> str:
    """The login form of the hall's console and of head office's dashboard: ``place`` (the hall's
    name, or head office), ``what`` the console; ``message`` why the last try failed."""
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = (f'<main class="login"><h1>{html.escape(place)}</h1><h2>{html.escape(what)}</h2>{note}'
            '<form method="post" action="/login">'
            f'<label>用户名 User <input name="name" autocomplete="username" required value="{html.escape(name)}"></label>'
            '<label>密码 Password <input name="password" type="password" autocomplete="current-password" required></label>'
            '<button type="submit">登录 Log in</button></form></main>')
    return page("hallq 登录 Login", body)


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
    "minutes_n": N_("{n} min"), "notices": N_("Notices"), "reports": N_("Reports"), "logout": N_("Log out"),
}


ROLES = {"supervisor": N_("Supervisor"), "manager": N_("Manager")}


def console_labels(lang: str) -> dict[str, str]:
    return {key: gettext(text, lang) for key, text in CONSOLE_LABELS.items()}


def console_page(config: Config, user: str, role: str, csrf: str, lang: str = "zh_CN") -> str:
    labels = console_labels(lang)
    body = (f'<header class="bar"><strong class="hall">{html.escape(config.hall.name)}</strong>'
            '<span id="mode" class="mode" role="status"></span><span id="link" class="link"></span>'
            '<span id="clock" class="clock"></span>'
            f'<nav><a href="/reports">{html.escape(labels["reports"])}</a>'
            f'<span class="user">{html.escape(user)} ({html.escape(gettext(ROLES.get(role, role), lang))})</span>'
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


def report_page(config: Config, day: str, rows: list[dict[str, Any]], chart: str, days: list[str],
                nightly: list[str] | None) -> str:
    """A day's figures per service (the same as ``hallq report``'s), a chart, CSV, other days."""
    def cell(value: Any) -> str:
        return "-" if value is None else html.escape(str(value))

    def minutes(value: Any) -> str:
        return "-" if value is None else f"{int(value) // 60}:{int(value) % 60:02d}"
    names = {s.id: s.name for s in config.service}
    body_rows = "".join(
        f"<tr><td>{html.escape(names.get(r['service'], r['service']))}</td><td>{cell(r['issued'])}</td>"
        f"<td>{cell(r['served'])}</td><td>{cell(r['no_show'])}</td><td>{cell(r['voided'])}</td>"
        f"<td>{minutes(r['wait_median_s'])}</td><td>{minutes(r['wait_p90_s'])}</td></tr>" for r in rows)
    table = ("<table id=\"figures\"><tr><th>业务 service</th><th>取号 issued</th><th>办结 served</th><th>过号 no-show</th>"
             "<th>作废 voided</th><th>等候中位 wait p50</th><th>等候 p90</th></tr>" + body_rows + "</table>"
             if rows else "<p>这一天没有记录 No tickets recorded that day.</p>")
    other = " ".join(f'<a href="/reports?date={html.escape(d)}">{html.escape(d)}</a>' for d in days[:31])
    copies = ""
    if nightly is not None:
        links = " ".join(f'<a href="/reports/nightly/{html.escape(n)}">{html.escape(n)}</a>' for n in nightly)
        copies = f"<section><h2>每日存档 Nightly copies</h2><p>{links or '-'}</p></section>"
    body = (f'<header class="bar"><strong>{html.escape(config.hall.name)}</strong>'
            '<a class="user" href="/console">控制台 Console</a></header><main class="console">'
            f"<section><h2>报表 Report {html.escape(day)}</h2>{table}"
            f'<p><a href="/reports.csv?date={html.escape(day)}">CSV (Excel)</a></p></section>'
            f"<section><h2>图表 Chart</h2>{chart}</section>"
            f"<section><h2>其他日期 Other days</h2><p>{other or '-'}</p></section>{copies}</main>")
    return page(f"hallq {day}", body)


def screen_page(config: Config, display_id: str) -> str:
    body = ('<main id="screen" class="screen"><header><h1 id="hall"></h1><span id="clock"></span></header>'
            '<div id="banners"></div><section id="panel" class="panel"></section>'
            '<section id="recent" class="recent"></section><section id="counters" class="tiles"></section>'
            '<section id="services" class="tiles"></section><footer id="notices"></footer></main>')
    return page(f"hallq {display_id}", body, scripts=("dom.js", "screen.js"), css="screen.css",
                data={"stream": f"/screen/{display_id}/stream"})
