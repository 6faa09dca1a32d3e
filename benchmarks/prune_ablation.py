"""Pruning ablation on the default digits teacher: two channel ratios x {no recovery, CE, KD}.

Each ratio prunes the trained teacher once (global L2, round_to 8, classifier kept); the three
recovery modes start from that same pruned model. Accuracy is PyTorch top-1 on the held-out eval
split; latency is ORT FP32, batch 1, 2 threads, timed in alternating rounds with the unpruned
teacher in this same run, so the ratio column is meaningful on a busy machine.

    .venv/bin/python benchmarks/prune_ablation.py [--ratios 0.5 0.7] [--epochs 2]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.7], help="channel ratios removed")
    parser.add_argument("--epochs", type=int, default=2, help="recovery epochs per mode")
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads")
    args = parser.parse_args()

    from edge_pipeline.calibration.dataset import ArrayDataset
    from edge_pipeline.config.schema import InputSpec
    from edge_pipeline.config.shrink import PruneConfig, PruneTarget
    from edge_pipeline.pruning.channels import count_macs_params, ignored_names, prune_channels
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.shrinking.models import torch_accuracy
    from edge_pipeline.zoo.digits import digits_splits, trained_digits_resnet

    splits = digits_splits()
    evaluation = ArrayDataset(*splits["eval"], "digits-eval", "eval")
    teacher = trained_digits_resnet()
    sample_shape = list(splits["calibration"][0].shape[1:])
    example = torch.zeros(2, *sample_shape)
    spec = InputSpec(name="input", shape=[1, *sample_shape])
    probe = LatencyProbe(teacher, spec, splits["calibration"][0], PruneTarget(threads=args.threads))
    teacher_macs, _ = count_macs_params(teacher, example)
    teacher_accuracy = torch_accuracy(teacher, evaluation)

    rows = []
    for ratio in args.ratios:
        config = PruneConfig(importance="l2", scope="global", round_to=8, max_layer_ratio=0.95)
        pruned = copy.deepcopy(teacher)
        prune_channels(pruned, example, config, ratio, ignored_names(pruned, config, example))
        macs, params = count_macs_params(pruned, example)
        timing = probe.measure(pruned, f"ratio-{ratio}")
        for mode in ("none", "ce", "kd"):
            started = time.perf_counter()
            model = recovered(copy.deepcopy(pruned), teacher, splits["train"], mode, args.epochs)
            rows.append({
                "ratio": ratio, "recovery": mode, "macs_vs_teacher": macs / teacher_macs, "params": params,
                "accuracy": torch_accuracy(model, evaluation), "train_s": time.perf_counter() - started, **timing,
            })
    probe.close()
    print_table(rows, teacher_accuracy, args)


def recovered(model, teacher, train, mode: str, epochs: int):
    import tempfile
    from pathlib import Path

    from edge_pipeline.calibration.dataset import ArrayDataset
    from edge_pipeline.config.shrink import PruneConfig
    from edge_pipeline.pruning.schedule import recover
    from edge_pipeline.shrinking.data import torch_dataset

    if mode == "none":
        return model.eval()
    train_config = {"epochs": epochs, "lr": 0.02, "schedule": "cosine", "seed": 0}
    config = PruneConfig.model_validate({"recovery": {"loss": mode, "train": train_config}})
    dataset = torch_dataset(ArrayDataset(*train, "digits-train", "train"))
    with tempfile.TemporaryDirectory(prefix="ep-ablation-") as tmp:
        recover(model, config, dataset, teacher, Path(tmp), f"recover {mode}")
    return model.eval()


def print_table(rows: list[dict], teacher_accuracy: float, args) -> None:
    from edge_pipeline.zoo.digits import TEACHER_WIDTHS

    print(f"\nteacher: SmallResNet{TEACHER_WIDTHS}, accuracy {teacher_accuracy:.2f}%; ORT FP32 batch 1, "
          f"{args.threads} threads; recovery {args.epochs} epochs (KD from the unpruned teacher, T=4, alpha=0.7)\n")
    header = f"{'ratio':>5} {'recovery':>8} {'MACs/teacher':>12} {'params':>9} {'acc %':>7} {'d acc':>6} " \
             f"{'lat ms':>7} {'teacher ms':>10} {'lat/teacher':>11} {'train s':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['ratio']:>5.2f} {r['recovery']:>8} {r['macs_vs_teacher']:>12.3f} {r['params']:>9,} "
              f"{r['accuracy']:>7.2f} {r['accuracy'] - teacher_accuracy:>+6.2f} {r['latency_ms']:>7.3f} "
              f"{r['teacher_latency_ms']:>10.3f} {r['latency_vs_teacher']:>11.3f} {r['train_s']:>7.1f}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
