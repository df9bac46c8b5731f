"""One shell under every device role (kiosk, counter, display, web): presence, status, the rule for
"the controller is there", routing of decoded documents, the request tracker, the ``R/sim`` hook."""
