"""Sample ticket pictures for the docs: ``python -m hallq.printer.preview OUT_DIR``.

Writes ``ticket-58mm.png`` and ``ticket-80mm.png`` (and their ESC/POS ``.bin``) from the same
layout a kiosk prints.
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .escpos_render import render_escpos
from .layout import TicketView, ticket_layout
from .png_render import render_png


def sample_view() -> TicketView:
    return TicketView(
        hall_name="城东供电营业厅", hall_name_en="Chengdong Power Service Hall", number="A012",
        service_name="缴费 Payment", service_name_en="", waiting_ahead=3, est_wait_s=540,
        issued_at=datetime(2026, 11, 23, 9, 30, 12, tzinfo=ZoneInfo("Asia/Shanghai")),
        notice="请留意叫号，过号请到服务台 Please listen for your number",
        qr_data="https://hall.example.cn/q/h1/A012")


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs/tickets"])[0])
    out.mkdir(parents=True, exist_ok=True)
    for width in (58, 80):
        layout = ticket_layout(sample_view(), width)
        render_png(layout, str(out / f"ticket-{width}mm.png"))
        (out / f"ticket-{width}mm.bin").write_bytes(render_escpos(layout))
    print(f"wrote {out}/ticket-58mm.png and ticket-80mm.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
