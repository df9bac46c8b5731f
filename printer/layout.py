"""The ticket as a layout model: blocks of text, rules, a QR code, feeds and a cut.

Renderers (:mod:`printer.escpos_render` for the printer, :mod:`printer.png_render` for pictures)
draw the same :class:`Layout`, so a PNG preview shows what the printer prints. Widths are counted
in printer columns by what is *sent* in Chinese mode (:func:`printed`): an ASCII byte is one column
(12 dots); every two-byte GB18030 code prints at full Hanzi width, two columns (24 dots), also
``·``, ``—``, ``°``, ``×``, ``①``, ``é`` (which Unicode calls narrow or ambiguous); what GB18030 can
only send as four bytes (emoji, ``¥``, rare characters) the printer has no glyph for: ``?``, one column.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Literal, Union

from hallq.runtime.i18n import N_, bilingual, both, gettext

Align = Literal["left", "center", "right"]

# printable dots across and half-width columns at scale 1 (font A, 12 dots wide)
PAPER = {58: (384, 32), 80: (576, 48)}
CELL_W, CELL_H = 12, 24          # dots of one half-width character cell at scale 1
MAX_SCALE = 8                    # GS ! allows 1..8 times width and height
LINE_DOTS = 30                   # one fed line at the default line spacing (ESC 2)


QUIET_MODULES = 4                # blank paper each side of a QR code, in modules, for a phone to find it
QR_DOTS = {58: 5, 80: 6}         # a module's dots on each paper when the code fits (0.6 / 0.75 mm)
QR_MIN_DOTS = 4                  # 0.5 mm: the smallest module a phone's camera reads at arm's length


def qr_modules(data: str) -> int:
    """The side of ``data``'s QR code in modules, as the printer makes it (error correction M)."""
    import qrcode
    from qrcode.exceptions import DataOverflowError
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    try:
        code.make(fit=True)
    except DataOverflowError:
        return 10_000                # beyond the largest QR code: fits no paper
    return int(code.modules_count)


def qr_module_dots(data: str, width_mm: int) -> int:
    """The largest module size (at most the paper's usual, at least QR_MIN_DOTS) at which the code
    and its quiet zone of QUIET_MODULES on each side fit across the paper; ValueError saying how
    long the text may be when none does."""
    side = qr_modules(data) + 2 * QUIET_MODULES
    dots = min(QR_DOTS.get(width_mm, 5), PAPER[width_mm][0] // side)
    if dots < QR_MIN_DOTS:
        raise ValueError(f"a QR code of {len(data)} characters is {side - 2 * QUIET_MODULES} modules wide: with its "
                         f"quiet zone it does not fit {width_mm} mm paper at {QR_MIN_DOTS} dots a module")
    return dots


def quiet_lines(module_dots: int) -> int:
    """Lines to feed so that at least 4 QR modules of blank paper lie above the code."""
    return -(-4 * module_dots // LINE_DOTS)


@dataclass(frozen=True)
class Text:
    text: str
    scale: int = 1               # character width and height multiplier, 1..8
    align: Align = "left"
    bold: bool = False


@dataclass(frozen=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True)
class Qr:
    data: str
    module_dots: int = 6         # dots per QR module


@dataclass(frozen=True)
class Feed:
    lines: int = 1


Block = Union[Text, Rule, Qr, Feed]


@dataclass(frozen=True)
class Layout:
    width_mm: Literal[58, 80]
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    cut: bool = True

    @property
    def dots(self) -> int:
        return PAPER[self.width_mm][0]

    @property
    def columns(self) -> int:
        return PAPER[self.width_mm][1]


# --- text measuring and wrapping, shared by both renderers ---------------------------------
@lru_cache(maxsize=8192)
def printed(ch: str) -> str:
    """What the printer prints for ``ch`` in Chinese mode: itself, or ``?`` where it has no glyph."""
    if ch < "\x80":
        return ch
    try:
        encoded = ch.encode("gb18030")
    except UnicodeEncodeError:
        return "?"
    return ch if len(encoded) == 2 else "?"


def char_columns(ch: str) -> int:
    return 1 if printed(ch) < "\x80" else 2


def text_columns(text: str) -> int:
    return sum(char_columns(ch) for ch in text)


def wrap(text: str, columns: int) -> list[str]:
    """Break ``text`` into lines of at most ``columns``; prefer breaking at spaces.

    Chinese text may break between any two characters; a word of narrow letters (accented ones too:
    "Gérant", "Résumé") is kept whole, and cut only when it is longer than a line.
    """
    columns = max(2, columns)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, width = "", 0
        for token in _tokens(paragraph):
            if len(token) > 1 and text_columns(token) > columns:
                pieces = _cut(token, columns)      # a word longer than a line: pieces that fit
            else:
                pieces = [token]
            for piece in pieces:
                w = text_columns(piece)
                if width + w > columns:
                    lines.append(line.rstrip())
                    line, width = "", 0
                if piece == " " and not line:
                    continue                # no leading space on a wrapped line
                line += piece
                width += w
        lines.append(line.rstrip())
    return lines


def _cut(word: str, columns: int) -> list[str]:
    pieces, piece = [], ""
    for ch in word:
        if piece and text_columns(piece + ch) > columns:
            pieces.append(piece)
            piece = ""
        piece += ch
    return pieces + [piece]


def _tokens(paragraph: str) -> list[str]:
    """One Chinese (East Asian wide) character, a run of other non-space characters (a word, accented
    letters included, however wide the printer prints them), or one space; control characters dropped."""
    tokens: list[str] = []
    word = ""
    for ch in paragraph:
        if ch < " " or ch == "\x7f":
            continue
        if ch == " " or unicodedata.east_asian_width(ch) in ("W", "F"):     # a line may break beside a Chinese character
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens or [""]


def _is_wide(ch: str) -> bool:
    return bool(ch) and char_columns(ch) == 2


# --- what a ticket says ---------------------------------------------------------------------
@dataclass(frozen=True)
class TicketView:
    """Everything printed on a ticket, already decided (no I/O)."""
    hall_name: str
    hall_name_en: str
    number: str
    service_name: str
    service_name_en: str
    waiting_ahead: int | None
    est_wait_s: int | None          # None: no wait line at all
    issued_at: datetime
    priority: bool = False
    offline: bool = False
    outage: bool = False
    outage_text: str = "系统维护中 System maintenance"   # the hall's wording ([hall.texts] outage)
    notice: str = ""
    qr_data: str | None = None
    approximate: bool = False     # offline: people ahead and wait are estimates
    appointment_slot: datetime | None = None   # checked in for this booked slot
    est_known: bool = True        # False: nobody is calling the service now; no minutes are promised
    route: tuple[str, ...] = ()   # a journey: its services' names, in order (one number for all)
    est_route_s: int | None = None  # a journey: until its last step is done, as estimated
    arrival_noted: bool = False     # joined from a phone, arrival confirmed here (printed while the controller was away)


def number_scale(width_mm: int, number: str) -> int:
    """The largest scale at which ``number`` fits the line (at most 8; 6 for 58 mm and 4 chars)."""
    columns = PAPER[width_mm][1]
    return max(1, min(MAX_SCALE, columns // max(1, text_columns(number))))


def second_language(name: str, name_en: str) -> str:
    """The English name when it adds something: a hall that names a service "缴费 Payment" and also
    "Payment" in English gets it printed once."""
    return name_en if name_en and name_en.casefold() not in name.casefold() else ""


def ticket_layout(view: TicketView, width_mm: Literal[58, 80], cut: bool = True) -> Layout:
    blocks: list[Block] = [Text(view.hall_name, scale=1 if width_mm == 58 else 2, align="center", bold=True)]
    if second_language(view.hall_name, view.hall_name_en):
        blocks.append(Text(view.hall_name_en, align="center"))
    blocks.append(Rule())
    blocks.append(Text(view.service_name, scale=2 if text_columns(view.service_name) * 2 <= PAPER[width_mm][1] else 1,
                       align="center", bold=True))
    if second_language(view.service_name, view.service_name_en):
        blocks.append(Text(view.service_name_en, align="center"))
    blocks.append(Feed(1))
    blocks.append(Text(view.number, scale=number_scale(width_mm, view.number), align="center", bold=True))
    blocks.append(Feed(1))
    if view.priority:
        blocks.append(Text(bilingual(N_("Priority")), scale=2, align="center", bold=True))
    if view.appointment_slot is not None:
        zh, en = both(N_("Appointment"))
        blocks.append(Text(f"{zh} {view.appointment_slot:%H:%M} {en}", scale=2 if width_mm == 80 else 1,
                           align="center", bold=True))
    if view.offline:
        blocks.append(Text(bilingual(N_("Issued offline")), align="center", bold=True))
    if view.arrival_noted:
        zh, en = both(N_("Arrival confirmed, place kept"))
        blocks.append(Text(zh, align="center", bold=True))
        blocks.append(Text(en, align="center"))
    if view.outage:
        blocks.append(Text(view.outage_text, align="center", bold=True))
    if view.waiting_ahead is not None:
        # a count from a lease (offline) is approximate: 约 / ~ before it
        zh = gettext(N_("Ahead: {n}"), "zh_CN", n=("约" if view.approximate else "") + str(view.waiting_ahead))
        en = gettext(N_("Ahead: {n}"), "en", n=("~" if view.approximate else "") + str(view.waiting_ahead))
        blocks.append(Text(f"{zh}  {en}"))
    if view.est_wait_s is not None and not view.est_known:
        zh, en = both(N_("Wait: not known yet"))
        blocks.append(Text(f"{zh}  {en}"))
    elif view.est_wait_s is not None:
        minutes = max(1, round(view.est_wait_s / 60)) if view.est_wait_s > 0 else 0
        zh, en = both(N_("Wait ~{m} min"), m=minutes)
        blocks.append(Text(f"{zh}  {en}"))
    if view.route:
        # the arrow is in GB2312 (A1FA): every Chinese-mode printer has it
        blocks.append(Text(gettext(N_("Your visit: {steps}"), "zh_CN", steps=" → ".join(view.route))))
        if view.est_route_s:
            zh, en = both(N_("Whole visit ~{m} min"), m=max(1, round(view.est_route_s / 60)))
            blocks.append(Text(f"{zh}  {en}"))
    when = N_("Arrived at {time}") if view.arrival_noted else N_("Issued at {time}")
    blocks.append(Text(gettext(when, "zh_CN", time=f"{view.issued_at:%Y-%m-%d %H:%M:%S}")))
    if view.notice:
        blocks.append(Rule())
        blocks.append(Text(view.notice))
    if view.qr_data:
        blocks.append(Qr(view.qr_data, module_dots=qr_module_dots(view.qr_data, width_mm)))
        blocks.append(Text(bilingual(N_("Scan to follow your turn")), align="center"))
    blocks.append(Feed(3))
    return Layout(width_mm=width_mm, blocks=tuple(blocks), cut=cut)


def slip_layout(hall_name: str, title: str, detail: str, at: datetime,
                width_mm: Literal[58, 80], cut: bool = True) -> Layout:
    """A short slip explaining why no ticket was issued (hall closed, service suspended ...)."""
    return Layout(width_mm=width_mm, cut=cut, blocks=(
        Text(hall_name, align="center", bold=True),
        Rule(),
        Text(title, scale=2, align="center", bold=True),
        Text(detail, align="center"),
        Text(f"{at:%Y-%m-%d %H:%M}", align="center"),
        Feed(3),
    ))
