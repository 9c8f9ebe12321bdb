"""Pure domain: batching, the run state machine, the dataset registry and policies.

Standard library only, no I/O, time passed in (`now`): tests/unit/test_architecture.py keeps it so.
"""
