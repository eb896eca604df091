"""The sysmon daemon: recording as a systemd service (service.py), its configuration, control socket and retention."""
