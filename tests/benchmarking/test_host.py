"""Host fingerprint from a fake /proc + /sys tree: CPU, cores, load, clocks, and a Jetson's board
and power mode."""

from pathlib import Path

from edge_pipeline.benchmarking.host import fingerprint, measurement_scope, measurement_stamp, physical_cores


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_cpus(root: Path, governor: str, min_khz: int, max_khz: int) -> None:
    for cpu in range(2):
        base = f"sys/devices/system/cpu/cpu{cpu}/cpufreq/"
        write(root, base + "scaling_governor", governor + "\n")
        write(root, base + "scaling_cur_freq", f"{max_khz}\n")
        write(root, base + "scaling_min_freq", f"{min_khz}\n")
        write(root, base + "scaling_max_freq", f"{max_khz}\n")


def test_jetson_board_power_mode_and_clock_locks(tmp_path):
    write(tmp_path, "proc/cpuinfo",
          "processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\nFeatures\t: fp asimd asimddp\n")
    write(tmp_path, "proc/meminfo", "MemTotal:       7999999 kB\n")
    write(tmp_path, "proc/device-tree/model", "NVIDIA Jetson Orin Nano Developer Kit\x00")
    write(tmp_path, "etc/nv_tegra_release", "# R36 (release), REVISION: 3.0, GCID: 36923193\n")
    write(tmp_path, "var/lib/nvpmodel/status", "pmode:0002\n")
    gpu = "sys/class/devfreq/17000000.ga10b/"
    for name, value in (("min_freq", "1020000000"), ("max_freq", "1020000000"), ("cur_freq", "1020000000")):
        write(tmp_path, gpu + name, value)
    fake_cpus(tmp_path, "performance", 1510400, 1510400)

    fp = fingerprint(tmp_path, run_tools=False)
    jetson = fp["jetson"]
    assert jetson["board_model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert jetson["l4t_release"].startswith("# R36")
    assert jetson["power_mode"] == {"name": None, "id": 2, "source": "/var/lib/nvpmodel/status"}
    assert jetson["gpu_clock"]["locked"] is True
    assert fp["cpu_frequency"]["clocks_locked"] is True and fp["cpu_frequency"]["governors"] == ["performance"]
    assert fp["clock_state"] == "locked"
    assert fp["cpu_flags"] == ["asimddp"] and fp["memory_bytes"] == 7999999 * 1024
    assert "numpy" in fp["runtime_versions"]


def test_plain_x86_host_has_no_jetson_block_and_unlocked_clocks(tmp_path):
    write(tmp_path, "proc/cpuinfo", "model name\t: Intel(R) Xeon(R) Platinum\nflags\t\t: avx2 avx512f avx512_vnni\n")
    fake_cpus(tmp_path, "powersave", 800000, 3500000)
    fp = fingerprint(tmp_path, run_tools=False)
    assert fp["jetson"] is None
    assert fp["cpu_frequency"]["clocks_locked"] is False and fp["clock_state"] == "unlocked"
    assert fp["governor"] == "powersave" and fp["cur_freq_khz"] == 3500000


def test_unreadable_sysfs_gives_nulls_not_errors(tmp_path):
    fp = fingerprint(tmp_path, run_tools=False)
    assert fp["cpu_frequency"] == {"governors": [], "clocks_locked": False, "per_cpu": {}, "clock_state": "unknown"}
    assert fp["memory_bytes"] is None and fp["jetson"] is None and fp["physical_cores"] is None


def test_a_vm_without_cpufreq_has_unknown_clocks_not_unlocked(tmp_path):
    # Most VMs expose cpu0..N but no cpufreq folder: nothing says the clocks move, nor that they don't.
    write(tmp_path, "sys/devices/system/cpu/cpu0/online", "1\n")
    fp = fingerprint(tmp_path, run_tools=False)
    assert fp["clock_state"] == "unknown" and fp["cpu_frequency"]["clocks_locked"] is False


def test_load_average_is_recorded_as_three_figures(tmp_path):
    fp = fingerprint(tmp_path, run_tools=False)
    assert fp["load_avg"] is None or (len(fp["load_avg"]) == 3 and all(v >= 0 for v in fp["load_avg"]))
    stamp = measurement_stamp()  # what the benchmark stage caches around each timing round
    assert stamp["utc"].endswith("+00:00") and stamp["host"].endswith(")")
    assert stamp["load_avg"] is None or len(stamp["load_avg"]) == 3


def test_physical_cores_count_smt_siblings_once(tmp_path):
    for cpu, siblings in enumerate(["0,2", "1,3", "0,2", "1,3"]):
        write(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list", siblings + "\n")
    assert physical_cores(tmp_path) == 2


def test_physical_cores_from_cpuinfo_core_ids_per_package(tmp_path):
    cpus = [(0, 0), (0, 1), (1, 0), (1, 1), (0, 0), (0, 1)]  # two sockets, SMT siblings repeat a core id
    write(tmp_path, "proc/cpuinfo", "".join(f"processor\t: {i}\nphysical id\t: {package}\ncore id\t\t: {core}\n\n"
                                            for i, (package, core) in enumerate(cpus)))
    assert physical_cores(tmp_path) == 4


def test_measurement_scope_labels_foreign_targets_as_host():
    from edge_pipeline.benchmarking.host import host_arch

    other = "arm64" if host_arch() == "x86_64" else "x86_64"
    assert measurement_scope(host_arch()) == "device"
    assert measurement_scope(other) == "host"


def test_missing_cpu_features_reads_every_flag_and_says_nothing_without_cpuinfo(tmp_path):
    from edge_pipeline.benchmarking.host import missing_cpu_features

    assert missing_cpu_features(["avx512_vnni"], tmp_path) is None  # no /proc/cpuinfo: unknown, not missing
    write(tmp_path, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse4_2 avx2 fma avx512_bf16\n")
    assert missing_cpu_features(["avx512_vnni", "avx512_bf16", "avx2"], tmp_path) == ["avx512_vnni"]
    assert missing_cpu_features([], tmp_path) == []
