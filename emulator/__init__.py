"""The IO API emulator: a computing stand-in for the Inventory Optimization API."""
