"""Benchmark on a real device from the build host, over the system's ssh and scp.

devices.py reads devices.yaml (how to reach each board); pack.py builds the torch-free benchmarker
as one zipapp; ssh.py runs ssh/scp and turns their failures into one-line DeviceErrors;
session.py drives one device (probe, push, run, pull, clean up); device_main.py is what runs on
the device, inside the zipapp, with only numpy and a runtime installed there.
"""
