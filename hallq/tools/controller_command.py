"""``hallq controller``: the controller (hallq/controller/main.py) with what it is composed with from
beside it, the SMS modem's worker (hallq/hardware/sms.py) when the hall file has an ``[sms]`` modem:
the controller's layer does not import the hardware's."""
from __future__ import annotations

import argparse

from hallq.controller.main import main as controller_main
from hallq.hardware.sms import SmsWorker


def main(args: argparse.Namespace) -> int:
    return controller_main(args, sms_worker=SmsWorker)
