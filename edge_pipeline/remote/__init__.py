"""Benchmark on a real device from the build host, over the system's ssh and scp.

devices.py reads devices.yaml (how to reach each board); pack.py builds the torch-free benchmarker
as one zipapp; ssh.py runs ssh/scp and turns their failures into one-line DeviceErrors;
session.py drives one device (probe, push, run, copy files back, clean up); device_main.py is what
runs on the device, inside the zipapp, with only numpy and a runtime installed there. benchmark.py
runs devices in parallel from jobs.py's jobs, assemble.py reads each device's events back into a
report and result_files.py writes them. With a bundle, bundle_plan.py picks each device's
artifacts, attach.py puts the rows into the bundle and bundle_run.py runs both (also for the
recipe's benchmark.remote).
"""
