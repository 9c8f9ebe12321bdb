"""``python -m service``: runs the service (``io-bridge run``); other commands via ``io-bridge``."""

import sys

from service.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["run"]))
