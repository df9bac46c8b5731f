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

Lang = str   # "zh" | "en"


def language(accept_language: str | None) -> Lang:
    """The page's language from the browser's first preference: English if it asks for English
    first, else Chinese (the hall's own language)."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def _minutes(seconds: int) -> int:
    return max(1, round(seconds / 60)) if seconds > 0 else 0


def phone_texts(view: dict[str, Any], lang: Lang, config: Config, counter_name: str, near: int) -> dict[str, Any]:
    """What the customer's phone says about their ticket, in their language."""
    status, ahead = view["status"], view["ahead"]
    service = config.service_by_id(view["service"])
    service_name = (service.name_en or service.name if lang == "en" else service.name) if service else view["service"]
    zh = lang == "zh"
    out: dict[str, Any] = {"number": view["number"], "service": service_name, "status": status, "alert": False,
                           "headline": "", "detail": ""}
    if status == "waiting":
        minutes = _minutes(view["est_wait_s"])
        if ahead <= near:
            out["headline"] = "快到您了，请留意叫号" if zh else "Your turn is near: please listen for your number"
            out["alert"] = ahead == 0
        else:
            out["headline"] = "请耐心等候" if zh else "Please wait"
        out["detail"] = (f"前面还有 {ahead} 人，预计等候约 {minutes} 分钟" if zh
                         else f"{ahead} ahead of you, about {minutes} min")
    elif status == "called":
        out["headline"] = f"请到 {counter_name}" if zh else f"Please go to {counter_name}"
        out["detail"] = "正在叫您的号" if zh else "Your number is being called"
        out["alert"] = True
    elif status == "served":
        out["headline"] = "已办结，谢谢光临" if zh else "Done. Thank you for your visit"
    elif status == "no_show":
        out["headline"] = "已过号" if zh else "Your number was missed"
        out["detail"] = "请到服务台重新排队" if zh else "Please ask at the service desk"
    else:
        out["headline"] = "此号已作废" if zh else "This ticket is no longer valid"
    return out


def page(title: str, body: str, *, lang: Lang = "zh", scripts: tuple[str, ...] = (), css: str = "web.css",
         data: dict[str, Any] | None = None, meta: dict[str, str] | None = None) -> str:
    """A whole page. ``data`` goes in a JSON block the scripts read (never executed)."""
    heads = "".join(f'<meta name="{html.escape(k)}" content="{html.escape(v)}">' for k, v in (meta or {}).items())
    blob = ""
    if data is not None:
        text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")   # no </script> inside
        blob = f'<script type="application/json" id="data">{text}</script>'
    tags = "".join(f'<script src="/static/{html.escape(s)}" defer></script>' for s in scripts)
    return (f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{heads}'
            f"<title>{html.escape(title)}</title>"
            f'<link rel="stylesheet" href="/static/{css}">{tags}</head><body>{body}{blob}</body></html>')


def phone_page(config: Config, token: str, first: dict[str, Any], lang: Lang) -> str:
    hall = config.hall.name_en or config.hall.name if lang == "en" else config.hall.name
    labels = {"zh": {"number": "您的号码", "offline": "连接中断，正在重连…"},
              "en": {"number": "Your number", "offline": "Connection lost, reconnecting…"}}[lang]
    body = (f'<main class="phone"><header>{html.escape(hall)}</header>'
            f'<p class="label">{html.escape(labels["number"])}</p>'
            f'<p id="number" class="number">{html.escape(first["number"])}</p>'
            f'<p id="service" class="service">{html.escape(first["service"])}</p>'
            f'<p id="headline" class="headline">{html.escape(first["headline"])}</p>'
            f'<p id="detail" class="detail">{html.escape(first["detail"])}</p>'
            f'<p id="offline" class="offline" hidden>{html.escape(labels["offline"])}</p></main>')
    return page(first["number"], body, lang=lang, scripts=("dom.js", "phone.js"), css="phone.css",
                data={"stream": f"/t/{token}/stream", "first": first})


def unknown_ticket_page(config: Config, lang: Lang) -> str:
    zh = lang == "zh"
    text = ("没有找到这张号票。号票只在取号当天有效；如有疑问请到服务台。" if zh else
            "We could not find this ticket. A ticket's page works on the day it was printed; "
            "please ask at the service desk.")
    body = (f'<main class="phone"><header>{html.escape(config.hall.name)}</header>'
            f'<p class="headline">{html.escape("号票无效" if zh else "Ticket not found")}</p>'
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


def console_page(config: Config, user: str, role: str, csrf: str) -> str:
    services = [{"id": s.id, "name": s.name} for s in config.service]
    counters = [{"id": k.id, "name": k.name} for k in config.counter]
    body = (f'<header class="bar"><strong>{html.escape(config.hall.name)}</strong>'
            '<span id="mode" class="mode"></span><span id="link" class="link"></span>'
            '<a href="/reports" class="reports">报表 Reports</a>'
            f'<span class="user">{html.escape(user)} ({html.escape(role)})</span>'
            '<form method="post" action="/logout" class="logout">'
            f'<input type="hidden" name="csrf" value="{html.escape(csrf)}"><button>退出 Log out</button></form></header>'
            '<main class="console">'
            '<section><h2>告警 Alerts</h2><ul id="alerts"></ul></section>'
            '<section><h2>业务 Services</h2><table id="services"></table></section>'
            '<section><h2>窗口 Counters</h2><table id="counters"></table></section>'
            '<section><h2>等候 Waiting</h2><div id="waiting"></div></section>'
            '<section><h2>设备 Devices</h2><table id="devices"></table></section>'
            '<section><h2>操作 Actions</h2><div id="actions"></div><p id="result" role="status"></p></section>'
            '</main>')
    return page(f"hallq {config.hall.name}", body, scripts=("dom.js", "console.js"), meta={"csrf": csrf},
                data={"services": services, "counters": counters})


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
