"""The IO API emulator: a computing stand-in for the Inventory Optimization API.

``create_app(config)`` builds the ASGI app (use it in-process through
``httpx.ASGITransport``, or serve it with ``io-bridge emulator``); ``EmulatorConfig`` holds
every knob. See ``emulator/README.md``.
"""

from emulator.app import EmulatorApp, create_app
from emulator.config import EmulatorConfig

__all__ = ["EmulatorApp", "EmulatorConfig", "create_app"]
