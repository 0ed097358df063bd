"""Live workers (a heartbeat each) and the leases by which one worker at a time holds a
channel's background session (see :mod:`atendo.core.leases.service`)."""
