"""Pure-numpy analytics of the emulator: calendars, smoothing models, model selection,
forecasts, purchase-order maths and inventory classification.

Nothing here knows about HTTP, tenants or jobs; every function is deterministic.
"""
